"""The floor of the index-build scenario: what no builder of this index can avoid.

Interpreter start + the imports any builder needs (obstore, the HTTP client; pystac-client,
the STAC client of the design; cogdex's TIFF parser; pyarrow with its Parquet writer) + the
STAC search + one round trip for every COG header at once + parsing them + writing the same
Parquet table with the same options as cogdex (zstd, page checksums, statistics of the same
columns, 2,048-row groups).

The search is pystac-client's `ItemSearch`, POSTed straight to `<API>/search`: one request
on a fresh connection (two round trips through the lab's proxy), then one per further page
(one page here). `Client.open`, which a builder that does not know the search link needs,
would read the landing page first: one more round trip, which cogdex overlaps with the
search (index/stac_api.py).

The rows of the table are a builder's own work (items + headers -> columns), not the
floor's: the table written is cogdex's own index of the same search, made once by
index_build_cogdex.py in a subprocess and read back as preparation (`prep_s`, which the
runner subtracts, with its CPU time `prep_cpu_s`; the warm-up run remakes it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
import obstore
import pyarrow.parquet as pq
from common import BANDS, aoi, report
from obstore.store import HTTPStore
from pystac_client import ItemSearch

from cogdex.tiff.header import PREFIX, parse_header

HERE = Path(__file__).resolve().parent


def reference(extra: list[str]) -> Path:
    """cogdex's index of this search (made by a cold cogdex build in a subprocess, kept
    beside the other benchmark caches; remade by the runner's warm-up run)."""
    port = os.environ["LAB_STAC_URL"].rsplit(":", 1)[-1]
    folder = Path(f"/tmp/cogdex-bench/index-build-floor-{port}{'-all' if extra else ''}")
    made = folder / "collections" / "lab.parquet"
    if "BENCH_SAVE" in os.environ or not made.exists():
        script = str(HERE / "index_build_cogdex.py")
        subprocess.run([sys.executable, script, "--keep", str(folder), *extra], check=True)
    return made


async def heads(store: HTTPStore, paths: list[str]) -> list[tuple[bytes, int]]:
    async def one(path: str) -> tuple[bytes, int]:
        got = await obstore.get_async(store, path, options={"range": (0, PREFIX)})
        return bytes(await got.bytes_async()), got.meta["size"]

    return await asyncio.gather(*(one(p) for p in paths))


ap = argparse.ArgumentParser()
ap.add_argument("--all", action="store_true", help="no bbox/date filter (every item)")
a = ap.parse_args()
extra = ["--all"] if a.all else []
t, cpu = time.perf_counter(), time.process_time()
made = reference(extra)
table = pq.ParquetFile(made).read()  # not read_table: pyarrow.dataset imports pandas
group = pq.read_metadata(made).row_group(0)
STATS = [group.column(j).path_in_schema for j in range(group.num_columns)]
STATS = [p for j, p in enumerate(STATS) if group.column(j).is_stats_set]  # cogdex's choice
prep, prep_cpu = time.perf_counter() - t, time.process_time() - cpu

api = os.environ["LAB_STAC_URL"]
when = "2024-01-01T00:00:00.000000Z/2024-02-01T23:59:59.999999Z"  # cogdex's interval
search = {} if a.all else {"bbox": aoi(), "datetime": when}
items = list(
    ItemSearch(
        f"{api}/search", method="POST", collections=["sentinel-2-l2a"], limit=250, **search
    ).items_as_dicts()
)
base = os.environ["LAB_HTTP_URL"]
hrefs = [it["assets"][key]["href"] for it in items for key in ("blue", "green", "red", "nir")]
store = HTTPStore.from_url(base, client_options={"allow_http": True})
fetched = asyncio.run(heads(store, [h.removeprefix(base + "/") for h in hrefs]))
headers = [
    parse_header(data, size=size, source=h) for (data, size), h in zip(fetched, hrefs, strict=True)
]
out = Path(tempfile.mkdtemp(prefix="cogdex-bench-floor-")) / "lab.parquet"
pq.write_table(
    table,
    out,
    row_group_size=2048,
    compression="zstd",
    write_statistics=STATS,
    write_page_checksum=True,
)
report(
    tool="floor",
    records=len(items),
    cogs=len(headers),
    headers=len(headers) == len(items) * len(BANDS),
    prep_s=round(prep, 4),
    prep_cpu_s=round(prep_cpu, 4),
)
