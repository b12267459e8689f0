"""Warp benchmarks: cogdex's `warp` vs `rasterio.warp.reproject` on the same array, same run.

    uv run pytest benchmarks/test_bench_warp.py --benchmark-only -p no:cacheprovider

On a busy machine add `--benchmark-timer time.process_time` (CPU time: both candidates are
single-threaded, so waiting for a core is left out).

Input: a 1024 x 1024 uint16 scene at 10 m in UTM 43N near the zone edge (77.5°E, 28°N),
smooth fields plus noise with a nodata (0) swath edge, warped onto the 10 m UTM 44N grid
that covers it (1075 x 1075), nearest and bilinear. rasterio runs GDAL's warper with its
defaults (one thread, approximate transformer at 0.125 px). Each resampling is one group,
so pytest-benchmark's table gives the ratio; every case first checks that both candidates
produce identical arrays. Measured numbers are in docs/warp.md.
"""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from cogdex.read.grid import Grid
from cogdex.read.warp import warp

SIZE = 1024


def _scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    img = 3000 + 2000 * np.sin(6 * xx + 3 * yy) + 1500 * np.cos(11 * yy - 4 * xx)
    img += rng.normal(0, 300, (SIZE, SIZE))
    out = np.clip(img, 1, 65535).astype(np.uint16)
    out[yy > 0.65 + 0.3 * xx] = 0
    return out[None]


SOURCE = Grid(32643, (10.0, 0.0, 740000.0, 0.0, -10.0, 3110000.0), (SIZE, SIZE))
TARGET = Grid.from_bounds(
    32644,
    pyproj.Transformer.from_crs(32643, 32644, always_xy=True).transform_bounds(*SOURCE.bounds),
    10.0,
    tap=True,
)
DATA = _scene()


def _cogdex(resampling: str) -> np.ndarray:
    return warp(DATA, SOURCE, TARGET, resampling=resampling, nodata=0)[0]  # type: ignore[arg-type]


def _rasterio(resampling: str) -> np.ndarray:
    out = np.zeros((1, *TARGET.shape), dtype=np.uint16)
    reproject(
        DATA,
        out,
        src_transform=Affine(*SOURCE.transform),
        src_crs=CRS.from_epsg(32643),
        src_nodata=0,
        dst_transform=Affine(*TARGET.transform),
        dst_crs=CRS.from_epsg(32644),
        dst_nodata=0,
        resampling=getattr(Resampling, resampling),
    )
    return out


@pytest.mark.parametrize("candidate", ["rasterio", "cogdex"])
@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_warp_utm43_to_utm44(benchmark, resampling, candidate):
    assert np.array_equal(_cogdex(resampling), _rasterio(resampling))
    benchmark.group = f"warp 1024x1024 uint16 UTM 43N -> 44N, {resampling}"
    run = _cogdex if candidate == "cogdex" else _rasterio
    benchmark(run, resampling)
