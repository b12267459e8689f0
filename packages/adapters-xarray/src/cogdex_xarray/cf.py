"""CRS and pixel grid as CF conventions and GDAL write them, so rioxarray reads them back.

The grid mapping variable `spatial_ref` carries pyproj's CF attributes plus the WKT under
`spatial_ref` and `crs_wkt` and, for a single grid, GDAL's `GeoTransform`; x/y hold pixel
centres with the CRS axes' CF attributes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyproj

from cogdex.sdk import Grid


def grid_mapping(crs: pyproj.CRS, grid: Grid | None) -> dict[str, Any]:
    """Attributes of `spatial_ref`; `GeoTransform` only when one grid holds for the data."""
    wkt = crs.to_wkt()
    attrs: dict[str, Any] = {**crs.to_cf(), "spatial_ref": wkt, "crs_wkt": wkt}
    if grid is not None:
        a, b, c, d, e, f = grid.transform
        attrs["GeoTransform"] = " ".join(repr(v) for v in (c, a, b, f, d, e))
    return attrs


def axis_attrs(crs: pyproj.CRS) -> tuple[dict[str, Any], dict[str, Any]]:
    """CF attributes of the x and y coordinates."""
    found: dict[str, dict[str, Any]] = {}
    for axis in crs.cs_to_cf():
        found[axis.get("axis", "")] = dict(axis)
    return found.get("X", {}), found.get("Y", {})


def centres(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre x of every column and y of every row (north-up grids)."""
    a, b, c, d, e, f = grid.transform
    if b != 0 or d != 0:
        raise ValueError("xarray output needs a north-up grid; pass crs= and resolution=")
    return c + a * (np.arange(grid.width) + 0.5), f + e * (np.arange(grid.height) + 0.5)
