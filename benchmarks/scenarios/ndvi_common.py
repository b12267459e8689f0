"""NDVI time series (rasteret's "filter 450,000 scenes -> 22 matches -> read 44 COGs"): what
every candidate shares. Stdlib + numpy, so the peer's own virtual environment imports it.

One farm, one year: the index (benchmarks/make_ndvi_index.py: ~450,000 synthetic scenes over
India, 2019-2024, plus the lab's 60 real ones) is filtered by the farm's box, the year and
cloud cover; the 22 real scenes that pass are read for red (B04) and NIR (B08) over the farm
and NDVI is computed per date. The farm is given on the 10 m grid of UTM 43N (where its
scenes are), so every candidate reads exactly the same pixels.

Each process runs the workflow twice, as a notebook's cell run twice: the first run is timed
from the script's start (the tool's imports, then the workflow with nothing loaded and no
connection open), the subsequent run is the workflow again in the same process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
from common import T0, digest, report

FARM_EPSG = 32643
FARM_UTM = (802960.0, 2210220.0, 805100.0, 2212480.0)
"""~2 x 2 km on the 10 m grid of UTM 43N: 214 x 226 px."""
FARM_LONLAT = (77.8946, 19.9646, 77.9155, 19.9854)
"""FARM_UTM's lon/lat bounds, rounded outwards: the index filter's box."""
YEAR = ("2024-01-01", "2024-12-31")
CLOUD_LT = 40.0
MATCHES = 22
BANDS = ("B04", "B08")  # red, NIR
INDEX = os.environ.get("NDVI_INDEX", "/tmp/labdata-h8/ndvi450k-cogdex")
RASTERET_INDEX = os.environ.get("NDVI_RASTERET_INDEX", "/tmp/labdata-h8/ndvi450k-rasteret")


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """float32 NDVI; NaN where either band is nodata (0)."""
    red, nir = red.astype(np.float32), nir.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (nir - red) / (nir + red)
    out[(red == 0) | (nir == 0)] = np.nan
    return out


def run(workflow: Callable[[], tuple[list[str], list[np.ndarray]]], **fields) -> None:
    """Time `workflow` (load + filter + read + NDVI; returns the dates and one NDVI array
    each) twice in this process, check it, and report both runs: the first from the
    script's start (imports included), the subsequent alone."""
    imported = time.perf_counter()
    times, results = [], []
    for first in (True, False):
        t = time.perf_counter()
        dates, series = workflow()
        times.append(time.perf_counter() - (T0 if first else t))
        results.append((dates, series))
    (dates, series), (_, again) = results
    if len(series) != MATCHES:
        raise SystemExit(f"{len(series)} matches, the scenario wants {MATCHES}")
    if digest(series) != digest(again):
        raise SystemExit("the subsequent run read other pixels than the first")
    if dates != sorted(dates):
        raise SystemExit("the series is not in date order")
    save = os.environ.get("BENCH_SAVE")
    if save:
        np.save(os.path.join(save, os.environ["BENCH_NAME"] + ".npy"), np.stack(series))
    report(
        **fields,
        matches=len(series),
        shape=list(series[0].shape),
        mean_ndvi=round(float(np.nanmean(np.stack(series))), 6),
        imports_s=round(imported - T0, 4),
        first_s=round(times[0], 4),
        subsequent_s=round(times[1], 4),
        digest=digest(series),
    )
