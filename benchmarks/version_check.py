"""What the object-version check costs: CPU per GET, and index bytes per record.

    uv run python benchmarks/version_check.py /tmp/labdata/mid --n 20000

1. CPU per GET (in-process, `time.process_time`): a range GET of a local file and of the
   Range server (ETag and Last-Modified like nginx) through obstore, as `fetch` makes them,
   and on the answer's `meta` what a tile GET did before (`int(meta["size"])` and the size
   compared) against what it does now (`ObjectVersion.of(meta)` and `_check_version`).
2. Index bytes: the lab scenes of DATA (`scenes/<id>/*.tif` and `items.json`) indexed
   through the Range server, exported as is (versions filled) and with the versions
   null (what an index built from a store that gives none holds); the same two for the
   rows repeated to 10,000 records with S3-style ETags (32 hex digits, quoted), each
   record's own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import obstore
import pyarrow as pa
from obstore.store import HTTPStore, LocalStore

import cogdex
from cogdex.io import fetch
from cogdex.testing.range_server import RangeServer


def _per_call(fn: Callable[[], Any], n: int) -> float:
    """CPU microseconds per call of `fn` (best of 3 rounds of n)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def cpu_per_get(tif: Path, n: int) -> dict[str, float]:
    size = tif.stat().st_size
    local = LocalStore(str(tif.parent))
    out: dict[str, float] = {}
    with RangeServer(tif.parent) as server:
        http = HTTPStore.from_url(server.url, client_options={"allow_http": True})
        for name, store in (("local", local), ("http", http)):
            meta = obstore.get(store, tif.name, options={"range": (0, 16384)}).meta
            expected = fetch.ObjectVersion.of(meta)

            def before(meta: Any = meta) -> None:
                found = int(meta["size"])
                if found != size:
                    raise AssertionError

            def after(meta: Any = meta, expected: Any = expected) -> None:
                fetch._check_version(fetch.ObjectVersion.of(meta), expected, "u", None)

            def get(store: Any = store) -> None:
                result = obstore.get(store, tif.name, options={"range": (4096, 20480)})
                result.bytes()
                _ = result.meta  # a dict made on access: a tile GET reads it once

            out[f"{name}: GET + body + meta"] = _per_call(get, max(n // 20, 200))
            out[f"{name}: size check (before)"] = _per_call(before, n)
            out[f"{name}: version check (now)"] = _per_call(after, n)
            out[f"{name}: ETag"] = expected.etag  # type: ignore[assignment]
    return out


def _with_header_fields(table: pa.Table, values: Callable[[int], dict[str, pa.Array]]) -> pa.Table:
    """`table` with fields of every asset's header replaced by `values(rows)`."""
    assets = table.column("assets").combine_chunks()
    children = []
    for f in assets.type:
        asset = assets.field(f.name)
        header = asset.field("header")
        new = values(len(header))
        parts = [new.get(h.name, header.field(h.name)) for h in header.type]
        header = pa.StructArray.from_arrays(parts, fields=list(header.type))
        children.append(
            pa.StructArray.from_arrays(
                [header if g.name == "header" else asset.field(g.name) for g in asset.type],
                fields=list(asset.type),
            )
        )
    column = pa.StructArray.from_arrays(children, fields=list(assets.type))
    return table.set_column(table.schema.get_field_index("assets"), "assets", column)


def _null_versions(table: pa.Table) -> pa.Table:
    """`table` with every header's etag and last_modified null."""
    header = table.schema.field("assets").type.field(0).type.field("header").type
    return _with_header_fields(
        table, lambda n: {k: pa.nulls(n, header.field(k).type) for k in ("etag", "last_modified")}
    )


def _s3_etags(table: pa.Table) -> pa.Table:
    """`table` with each header's etag an S3-style one of its own (random MD5 hex)."""
    return _with_header_fields(
        table, lambda n: {"etag": pa.array([f'"{uuid.uuid4().hex}"' for _ in range(n)])}
    )


def _exported_bytes(table: pa.Table, folder: Path, name: str) -> int:
    out = cogdex.as_collection(table, name=name).export(folder / f"{name}.parquet")
    return sum(p.stat().st_size for p in Path(out).parent.glob(f"{name}*.parquet"))


def index_bytes(data: Path) -> dict[str, Any]:
    items = json.loads((data / "items.json").read_text())
    assets = [a for f in items["features"] for a in f["assets"].values()]
    hrefs = {a["href"].split("/scenes/")[0] for a in assets}
    with tempfile.TemporaryDirectory() as tmp, RangeServer(data) as server:
        folder = Path(tmp)
        rewrites = {h + "/": server.url + "/" for h in hrefs}
        coll = cogdex.build_from_stac(
            str(data / "items.json"), name="versions", href_rewrites=rewrites, cache_dir=folder
        )
        table = coll.to_arrow()
        records, assets = table.num_rows, table.schema.field("assets").type.num_fields
        filled = _exported_bytes(table, folder, "filled")
        null = _exported_bytes(_null_versions(table), folder, "null")
        repeat = np.resize(np.arange(records), 10_000)
        big = table.take(pa.array(repeat))
        big = big.set_column(0, "id", pa.array([f"r{i}" for i in range(len(big))]))
        big_filled = _exported_bytes(_s3_etags(big), folder, "big_filled")
        big_null = _exported_bytes(_null_versions(big), folder, "big_null")
    return {
        "records": records,
        "assets per record": assets,
        "index bytes, versions filled": filled,
        "index bytes, versions null": null,
        "bytes per record (all assets)": (filled - null) / records,
        "10k records, S3 ETags: filled": big_filled,
        "10k records: null": big_null,
        "10k: bytes per record (all assets)": (big_filled - big_null) / 10_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a lab data set: items.json and scenes/")
    parser.add_argument("--n", type=int, default=20_000, help="calls per timed round")
    args = parser.parse_args()
    tif = next((args.data / "scenes").glob("*/B04.tif"))
    for key, value in {**cpu_per_get(tif, args.n), **index_bytes(args.data)}.items():
        print(f"{key:40} {value:.3f}" if isinstance(value, float) else f"{key:40} {value}")


if __name__ == "__main__":
    main()
