"""Grow a real 12-scene index into a synthetic N-scene one, for the load + subset benchmark.

    uv run python benchmarks/make_synthetic_index.py cogdex SEED_DIR OUT --n 500000
    /tmp/lab/peer/bin/python benchmarks/make_synthetic_index.py rasteret SEED_DIR OUT --n 500000

The seeds are the lab builds that `index_build_*.py --all --keep DIR` leave (real headers of
10980-px COGs). Every synthetic scene copies a seed row (its headers) and gets its own id, a
1 x 1 degree footprint over Europe (lon -10..30, lat 35..60), a datetime in 2019-2023 and a
cloud cover; the same seed and RNG give both tools the same scenes. Each tool's index is
written the way that tool writes its own: cogdex by year with its store, rasteret as a
year/month hive dataset with the options of its `Collection.export`.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

YEARS = range(2019, 2024)


def scenes(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    lon = rng.uniform(-10, 30, n)
    lat = rng.uniform(35, 60, n)
    start = np.datetime64("2019-01-01T00:00:00", "us")
    span = (np.datetime64("2024-01-01T00:00:00", "us") - start).astype(np.int64)
    when = start + rng.integers(0, span, n).astype("timedelta64[us]")
    order = np.argsort(when)
    return {
        "lon": lon[order],
        "lat": lat[order],
        "when": when[order],
        "cloud": rng.uniform(0, 100, n)[order],
        "seed_row": rng.integers(0, 12, n)[order],
    }


def _columns(
    seed: pa.Table, s: dict[str, np.ndarray], rows: np.ndarray, tz: str | None
) -> pa.Table:
    """Scenes `rows` (positions in time order, which name them) as index rows."""
    table = seed.take(pa.array(s["seed_row"][rows]))
    lon, lat = s["lon"][rows], s["lat"][rows]
    boxes = shapely.box(lon, lat, lon + 1, lat + 1)
    bbox = pa.StructArray.from_arrays(
        [pa.array(v) for v in (lon, lat, lon + 1, lat + 1)],
        names=["xmin", "ymin", "xmax", "ymax"],
    )
    ids = pa.array([f"SYN_{i:07d}" for i in rows.tolist()])
    when = pa.array(s["when"][rows]).cast(pa.timestamp("us", tz=tz))
    replace = {
        "id": ids,
        "datetime": when,
        "geometry": pa.array(shapely.to_wkb(boxes)),
        "bbox": bbox,
    }
    cloud_name = "cloud_cover" if "cloud_cover" in seed.column_names else "eo:cloud_cover"
    replace[cloud_name] = pa.array(s["cloud"][rows])
    for name, column in replace.items():
        table = table.set_column(table.column_names.index(name), name, column)
    return table


def make_cogdex(seed_dir: Path, out: Path, n: int) -> None:
    """Each year's scenes in the store's file order, written a few row groups at a time
    (a 10M-scene index is ~45 GB in Arrow; one year of it never is in memory)."""
    import cogdex
    from cogdex.index import store

    seed_coll = cogdex.load(next(seed_dir.rglob("*.parquet")))
    seed = seed_coll.to_arrow().sort_by("id")
    s = scenes(n)
    years = s["when"].astype("datetime64[Y]").astype(int) + 1970
    tmp = out.parent / f".{out.name}.tmp"
    tmp.mkdir(parents=True)
    for year in YEARS:
        idx = np.flatnonzero(years == year)
        lon, lat = s["lon"][idx], s["lat"][idx]
        idx = idx[store.order_of(np.column_stack([lon, lat, lon + 1, lat + 1]), s["when"][idx])]
        lon, lat = s["lon"][idx], s["lat"][idx]
        located = pa.table(
            {
                "geometry": shapely.to_wkb(shapely.box(lon, lat, lon + 1, lat + 1)),
                "bbox": pa.StructArray.from_arrays(
                    [pa.array(v) for v in (lon, lat, lon + 1, lat + 1)],
                    names=["xmin", "ymin", "xmax", "ymax"],
                ),
            }
        )
        schema = _columns(seed, s, idx[:1], "UTC").schema
        path = tmp / f"{year}.parquet"
        with store.open_writer(schema, located, seed_coll.metadata, path) as writer:
            for start in range(0, len(idx), store.GATHER_ROWS):
                part = _columns(seed, s, idx[start : start + store.GATHER_ROWS], "UTC")
                writer.write_table(part, row_group_size=store.ROW_GROUP_ROWS)
        print(year, len(idx), flush=True)
    os.replace(tmp, out)


def make_rasteret(seed_dir: Path, out: Path, n: int) -> None:
    files = sorted(glob.glob(str(seed_dir / "**" / "*.parquet"), recursive=True))
    seed = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files]).sort_by("id")
    metadata = pq.read_schema(files[0]).metadata
    s = scenes(n)
    years = s["when"].astype("datetime64[Y]").astype(int) + 1970
    for year in YEARS:
        idx = np.flatnonzero(years == year)
        part = _columns(seed, s, idx, None)
        months = s["when"][idx].astype("datetime64[M]").astype(int) % 12 + 1
        part = part.append_column("year", pa.array(np.full(len(part), year, np.int32)))
        part = part.append_column("month", pa.array(months.astype(np.int32)))
        pq.write_to_dataset(  # the options of rasteret 0.4.1's Collection.export
            part.replace_schema_metadata(metadata),
            root_path=str(out),
            partition_cols=["year", "month"],
            compression="zstd",
            compression_level=3,
            row_group_size=50_000,
            write_statistics=True,
            use_dictionary=True,
            write_batch_size=10000,
        )
        print(year, len(part), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("tool", choices=["cogdex", "rasteret"])
    ap.add_argument("seed", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=500_000)
    a = ap.parse_args()
    if a.out.exists():
        sys.exit(f"{a.out} exists")
    (make_cogdex if a.tool == "cogdex" else make_rasteret)(a.seed, a.out, a.n)
