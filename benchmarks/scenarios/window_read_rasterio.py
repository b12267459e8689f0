"""rasterio/GDAL: read one AOI window from each of 48 COGs (12 scenes x 4 bands), cold process.

GDAL's recommended cloud settings; `--threads N` reads N files at once, 0 = a sequential loop.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from common import aoi, digest, jobs, report

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
}
os.environ.update(GDAL_ENV)

import rasterio  # noqa: E402
from rasterio.warp import transform_bounds  # noqa: E402
from rasterio.windows import from_bounds  # noqa: E402


def read(path: str):
    with rasterio.open(path) as ds:
        bounds = transform_bounds("EPSG:4326", ds.crs, *aoi())
        window = from_bounds(*bounds, transform=ds.transform).round_offsets().round_lengths()
        return ds.read(1, window=window)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--local", action="store_true", help="read the files from LAB_DATA directly")
    a = ap.parse_args()
    paths = jobs(os.environ["LAB_DATA"] if a.local else None)
    if not a.local:
        paths = ["/vsicurl/" + p for p in paths]
    with rasterio.Env(**GDAL_ENV):
        if a.threads:
            with ThreadPoolExecutor(a.threads) as ex:
                arrays = list(ex.map(read, paths))
        else:
            arrays = [read(p) for p in paths]
    report(
        tool=f"rasterio {rasterio.__version__} / GDAL {rasterio.__gdal_version__}",
        files=len(arrays),
        shape=list(arrays[0].shape),
        digest=digest(arrays),
    )


if __name__ == "__main__":
    main()
