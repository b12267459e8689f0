"""rasterio/GDAL: the same workflow as ndvi_cogdex.py, as a rasterio user writes it.

The index is cogdex's GeoParquet, filtered with pyarrow (what any GeoParquet user has);
then each match's red and NIR COG is opened through /vsicurl/ with GDAL's cloud settings
and the farm's window read: `--threads N` in a thread pool, `--processes N` in a
multiprocessing pool (forked workers, a new pool per run, as a function a user calls).
"""

# isort: skip_file
# (ndvi_common first: its import starts the clock the first run is timed by.)
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
}
os.environ.update(GDAL_ENV)
# The lab's env.sh exports AWS credentials for its S3 emulator; with them in the environment
# rasterio builds a boto3 session for every dataset opened outside a rasterio.Env (every
# payload here; every file a pool thread opens), which a user reading HTTP does not pay.
for name in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[name]

sys.path.insert(0, os.path.dirname(__file__))
from ndvi_common import CLOUD_LT, FARM_LONLAT, FARM_UTM, INDEX, YEAR, ndvi, run  # noqa: E402

import pyarrow.dataset as ds  # noqa: E402
import rasterio  # noqa: E402
from rasterio.windows import from_bounds  # noqa: E402


def read(href: str):
    with rasterio.open("/vsicurl/" + href) as src:
        window = from_bounds(*FARM_UTM, transform=src.transform).round_offsets().round_lengths()
        return src.read(1, window=window)


def matches() -> tuple[list[str], list[str], list[str]]:
    """Dates, red and NIR hrefs of the scenes the filter keeps, in date order."""
    x0, y0, x1, y1 = FARM_LONLAT
    start, end = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in YEAR)
    xmin, ymin, xmax, ymax = (ds.field("bbox", k) for k in ("xmin", "ymin", "xmax", "ymax"))
    keep = (
        (xmin <= x1) & (xmax >= x0) & (ymin <= y1) & (ymax >= y0)
        & (ds.field("datetime") >= start) & (ds.field("datetime") <= end.replace(hour=23))
        & (ds.field("cloud_cover") < CLOUD_LT)
    )  # fmt: skip
    columns = {
        "datetime": ds.field("datetime"),
        "red": ds.field("assets", "red", "href"),
        "nir": ds.field("assets", "nir", "href"),
    }
    table = ds.dataset(INDEX, format="parquet").to_table(columns=columns, filter=keep)
    table = table.sort_by("datetime")
    dates = [d.strftime("%Y-%m-%d") for d in table.column("datetime").to_pylist()]
    return dates, table.column("red").to_pylist(), table.column("nir").to_pylist()


def main() -> None:
    ap = argparse.ArgumentParser()
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--threads", type=int)
    group.add_argument("--processes", type=int)
    a = ap.parse_args()

    def workflow() -> tuple[list[str], list]:
        dates, red, nir = matches()
        if a.threads:
            with ThreadPoolExecutor(a.threads) as pool:
                arrays = list(pool.map(read, red + nir))
        else:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(a.processes) as pool:
                arrays = pool.map(read, red + nir)
        n = len(dates)
        return dates, [ndvi(r, i) for r, i in zip(arrays[:n], arrays[n:], strict=True)]

    with rasterio.Env(**GDAL_ENV):
        run(workflow, tool=f"rasterio {rasterio.__version__} / GDAL {rasterio.__gdal_version__}")


if __name__ == "__main__":
    main()
