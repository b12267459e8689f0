"""rasterio/GDAL: `DatasetReader.sample` of 2 bands of 10 scenes at N points, cold process.

GDAL's recommended cloud settings and one thread per file (`--threads`). `sample` reads
point by point, so run it with fewer points than cogdex and compare points per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from common import T0, points, report, scene_ids

GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MULTIPLEX": "YES",
            "VSI_CACHE": "TRUE", "GDAL_CACHEMAX": 1024}  # fmt: skip
os.environ.update({k: str(v) for k, v in GDAL_ENV.items()})

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from pyproj import Transformer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--points", type=int, default=20_000)
ap.add_argument("--threads", type=int, default=20)
a = ap.parse_args()
lon, lat = points(a.points)
files = [f"/vsicurl/{os.environ['LAB_HTTP_URL']}/scenes/{sid}/{b}.tif"
         for sid in scene_ids(10) for b in ("B04", "B08")]  # fmt: skip


def one(path: str) -> np.ndarray:
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as ds:
        x, y = Transformer.from_crs(4326, ds.crs, always_xy=True).transform(lon, lat)
        return np.fromiter((v[0] for v in ds.sample(zip(x, y, strict=True))), ds.dtypes[0])


with ThreadPoolExecutor(a.threads) as ex:
    values = list(ex.map(one, files))
wall = time.perf_counter() - T0
report(tool=f"rasterio {rasterio.__version__}", points=a.points,
       values=sum(len(v) for v in values), points_per_s=round(a.points / wall),
       value_sum=int(sum(int(v.sum()) for v in values)))  # fmt: skip
