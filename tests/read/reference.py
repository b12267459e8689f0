"""Shared inputs for the warp tests: synthetic scenes, grids, and GDAL's answer via rasterio.

rasterio is only a reference here (a dev dependency): every comparison runs GDAL's warper
through `rasterio.warp.reproject` on the very arrays cogdex warps.
"""

from __future__ import annotations

import numpy as np
import pyproj
from affine import Affine
from rasterio.crs import CRS as RioCRS
from rasterio.warp import Resampling, reproject

from cogdex.read.grid import Grid

LAEA = "+proj=laea +lat_0=28 +lon_0=77.5 +datum=WGS84 +units=m +no_defs"
"""A CRS with no EPSG code: Lambert azimuthal equal-area centred on the test scenes."""
SINUSOIDAL = "+proj=sinu +lon_0=0 +R=6371007.181 +units=m +no_defs"
"""MODIS's sinusoidal grid: no EPSG code, and strongly sheared at 77.5°E."""


def scene(height: int, width: int, *, seed: int = 0) -> np.ndarray:
    """uint16 reflectance-like content: smooth fields, noise, a bright feature, and nodata
    (0) in a slanted swath edge and a left strip, like the corner of a satellite scene."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = 3000 + 2000 * np.sin(6 * xx + 3 * yy) + 1500 * np.cos(11 * yy - 4 * xx)
    img += rng.normal(0, 300, (height, width))
    img[(xx - 0.6) ** 2 + (yy - 0.3) ** 2 < 0.01] += 4000
    out = np.clip(img, 1, 65535).astype(np.uint16)
    out[yy > 0.65 + 0.3 * xx] = 0
    out[:, : width // 20] = 0
    return out


def utm43_source(size: int = 512) -> Grid:
    """A 10 m grid in UTM 43N near the 43N/44N boundary (77.5°E, 28°N)."""
    return Grid(32643, (10.0, 0.0, 740000.0, 0.0, -10.0, 3110000.0), (size, size))


def covering(source: Grid, crs: int | str, resolution, *, tap: bool = True) -> Grid:
    """The grid in `crs` covering `source`'s footprint (bounds densified by pyproj)."""
    to = pyproj.Transformer.from_crs(source.pyproj_crs, pyproj.CRS(crs), always_xy=True)
    return Grid.from_bounds(crs, to.transform_bounds(*source.bounds, densify_pts=21),
                            resolution, tap=tap)  # fmt: skip


def _rio_crs(crs: int | str) -> RioCRS:
    return RioCRS.from_epsg(crs) if isinstance(crs, int) else RioCRS.from_user_input(crs)


def gdal_warp(
    data: np.ndarray,
    source: Grid,
    target: Grid,
    *,
    resampling: str = "nearest",
    nodata: float | None = None,
    tolerance: float = 0.125,
    dtype=None,
) -> np.ndarray:
    """GDAL's warp of `data` (bands, h, w) onto `target`; empty pixels hold `nodata`."""
    out = np.full((data.shape[0], *target.shape), 0 if nodata is None else nodata,
                  dtype=dtype or data.dtype)  # fmt: skip
    reproject(
        data,
        out,
        src_transform=Affine(*source.transform),
        src_crs=_rio_crs(source.crs),
        src_nodata=nodata,
        dst_transform=Affine(*target.transform),
        dst_crs=_rio_crs(target.crs),
        dst_nodata=nodata,
        resampling=getattr(Resampling, resampling),
        tolerance=tolerance,
    )
    return out


def gdal_picks(source: Grid, target: Grid, *, tolerance: float) -> np.ndarray:
    """The flat index of the source pixel GDAL's nearest takes for each target pixel, or -1:
    found by warping an image whose values are their own flat indices."""
    index = np.arange(source.height * source.width, dtype=np.float64).reshape(1, *source.shape)
    return gdal_warp(index, source, target, nodata=-1.0, tolerance=tolerance)[0].astype(np.int64)


def gdal_coords(source: Grid, target: Grid, *, tolerance: float) -> tuple[np.ndarray, ...]:
    """GDAL's source coordinates (col, row) of each target pixel centre, NaN where unknown.

    Bilinear resampling of a ramp whose pixel i holds i + 0.5 returns the sampled coordinate
    itself wherever the 2x2 block around the point lies inside the source.
    """
    h, w = source.shape
    out = []
    for ramp in (np.arange(w) + 0.5, (np.arange(h) + 0.5)[:, None]):
        data = np.broadcast_to(ramp, source.shape).astype(np.float64)[None]
        got = gdal_warp(data, source, target, resampling="bilinear", nodata=-1e9,
                        tolerance=tolerance)[0]  # fmt: skip
        out.append(got)
    inner = (out[0] > 1) & (out[0] < w - 1) & (out[1] > 1) & (out[1] < h - 1)
    return tuple(np.where(inner, v, np.nan) for v in out)
