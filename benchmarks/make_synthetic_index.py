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
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

YEARS = range(2019, 2024)


def scenes(
    n: int,
    lon: tuple[float, float] = (-10, 30),
    lat: tuple[float, float] = (35, 60),
    years: range = YEARS,
) -> dict[str, np.ndarray]:
    """`n` scenes, sorted by time: lower-left corners uniform in `lon` x `lat`, datetimes
    uniform over `years`."""
    rng = np.random.default_rng(5)
    lon_ = rng.uniform(*lon, n)
    lat_ = rng.uniform(*lat, n)
    start = np.datetime64(f"{years[0]}-01-01T00:00:00", "us")
    span = (np.datetime64(f"{years[-1] + 1}-01-01T00:00:00", "us") - start).astype(np.int64)
    when = start + rng.integers(0, span, n).astype("timedelta64[us]")
    order = np.argsort(when)
    return {
        "lon": lon_[order],
        "lat": lat_[order],
        "when": when[order],
        "cloud": rng.uniform(0, 100, n)[order],
        "seed_row": rng.integers(0, 12, n)[order],
    }


def _columns(seed: pa.Table, s: dict[str, np.ndarray], sl: slice, tz: str | None) -> pa.Table:
    rows = seed.take(pa.array(s["seed_row"][sl]))
    lon, lat = s["lon"][sl], s["lat"][sl]
    boxes = shapely.box(lon, lat, lon + 1, lat + 1)
    bbox = pa.StructArray.from_arrays(
        [pa.array(v) for v in (lon, lat, lon + 1, lat + 1)],
        names=["xmin", "ymin", "xmax", "ymax"],
    )
    first = sl.start or 0
    ids = pa.array([f"SYN_{i:07d}" for i in range(first, first + len(lon))])
    when = pa.array(s["when"][sl]).cast(pa.timestamp("us", tz=tz))
    replace = {
        "id": ids,
        "datetime": when,
        "geometry": pa.array(shapely.to_wkb(boxes)),
        "bbox": bbox,
    }
    cloud_name = "cloud_cover" if "cloud_cover" in seed.column_names else "eo:cloud_cover"
    replace[cloud_name] = pa.array(s["cloud"][sl])
    for name, column in replace.items():
        rows = rows.set_column(rows.column_names.index(name), name, column)
    return rows


def _years(s: dict[str, np.ndarray]) -> np.ndarray:
    return s["when"].astype("datetime64[Y]").astype(int) + 1970


def make_cogdex(
    seed_dir: Path,
    out: Path,
    s: dict[str, np.ndarray],
    years: range = YEARS,
    real: bool = False,
) -> None:
    """`s` grown from the seed's rows, one file per year; `real`: the seed's own rows are
    added to their year's file unchanged."""
    import cogdex
    from cogdex.index import store

    seed_coll = cogdex.load(next(seed_dir.rglob("*.parquet")))
    seed = seed_coll.to_arrow().sort_by("id")
    seed_years = pc.year(seed.column("datetime")).to_numpy() if real else np.array([])
    tmp = out.parent / f".{out.name}.tmp"
    tmp.mkdir(parents=True)
    for year in years:
        idx = np.flatnonzero(_years(s) == year)
        part = _columns(seed, s, slice(int(idx[0]), int(idx[-1]) + 1), "UTC")
        if (seed_years == year).any():
            own = seed.filter(pa.array(seed_years == year)).cast(part.schema)
            part = pa.concat_tables([part, own])
        part = part.take(store.spatial_order(part))
        store._write_file(part, seed_coll.metadata, tmp / f"{year}.parquet")
        print(year, len(part), flush=True)
    os.replace(tmp, out)


def make_rasteret(
    seed_dir: Path,
    out: Path,
    s: dict[str, np.ndarray],
    years: range = YEARS,
    real: bool = False,
) -> None:
    """As `make_cogdex`, written as rasteret's `Collection.export` writes."""
    files = sorted(glob.glob(str(seed_dir / "**" / "*.parquet"), recursive=True))
    seed = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files]).sort_by("id")
    metadata = pq.read_schema(files[0]).metadata
    seed_years = pc.year(seed.column("datetime")).to_numpy() if real else np.array([])
    for year in years:
        idx = np.flatnonzero(_years(s) == year)
        part = _columns(seed, s, slice(int(idx[0]), int(idx[-1]) + 1), None)
        when = s["when"][idx]
        if (seed_years == year).any():
            own = seed.filter(pa.array(seed_years == year)).cast(part.schema)
            part = pa.concat_tables([part, own])
            own_when = own.column("datetime").to_numpy().astype("datetime64[us]")
            when = np.concatenate([when, own_when])
        months = when.astype("datetime64[M]").astype(int) % 12 + 1
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
    (make_cogdex if a.tool == "cogdex" else make_rasteret)(a.seed, a.out, scenes(a.n))
