"""Areas of interest -> target grids: which CRS, resolution and pixel lattice a read uses.

Without `crs`/`resolution`, a geometry's grid is cut from the pixel lattice of the first
record that covers it (its "anchor"), so records on that lattice are read as plain window
cuts and only records in other CRSs (or with other pixel sizes) are warped. With `crs`
and/or `resolution` the grid snaps to multiples of the resolution (GDAL's `-tap`), so grids
of different geometries share one lattice.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from cogdex.read import grid as G
from cogdex.read.window import Window


def pixel_size_in(crs: int | str, anchor: G.Grid, at: tuple[float, float]) -> float:
    """The anchor's pixel size expressed in `crs` units, near lon/lat point `at`."""
    to_anchor = G.transformer(4326, anchor.crs)
    x, y = to_anchor.transform(*at)
    a, b, _, d, e, _ = anchor.transform
    xs = np.array([x, x + a, x + b])
    ys = np.array([y, y + d, y + e])
    tx, ty = G.transformer(anchor.crs, crs).transform(xs, ys)
    return float(
        min(math.hypot(tx[1] - tx[0], ty[1] - ty[0]), math.hypot(tx[2] - tx[0], ty[2] - ty[0]))
    )


def on_lattice(
    geometry: shapely.Geometry, anchor: G.Grid, geometry_crs: int | str = 4326
) -> G.Grid:
    """The smallest window of `anchor`'s pixel lattice (extended past its edges if need be)
    that covers `geometry` (in `geometry_crs`)."""
    bounds = G.geometry_bounds(geometry, anchor.crs, geometry_crs=geometry_crs)
    left, bottom, right, top = bounds
    a, b, c, d, e, f = anchor.transform
    if b != 0 or d != 0:  # a rotated lattice: fall back to a north-up grid at its pixel size
        return G.Grid.from_bounds(anchor.crs, (left, bottom, right, top), anchor.res, tap=True)
    eps = 1e-6
    cols = sorted(((left - c) / a, (right - c) / a))
    rows = sorted(((top - f) / e, (bottom - f) / e))
    c0, c1 = math.floor(cols[0] + eps), math.ceil(cols[1] - eps)
    r0, r1 = math.floor(rows[0] + eps), math.ceil(rows[1] - eps)
    return anchor.window_grid(Window(c0, r0, max(c1 - c0, 1), max(r1 - r0, 1)))


def target_grid(
    geometry: shapely.Geometry,
    anchor: G.Grid,
    *,
    crs: int | str | None = None,
    resolution: float | tuple[float, float] | None = None,
    geometry_crs: int | str = 4326,
) -> G.Grid:
    """The grid a read of `geometry` (in `geometry_crs`) fills (see the module docstring)."""
    if crs is None and resolution is None:
        return on_lattice(geometry, anchor, geometry_crs)
    target_crs = anchor.crs if crs is None else crs
    if resolution is None:
        centre = shapely.centroid(geometry)
        lon, lat = G.transformer(geometry_crs, 4326).transform(centre.x, centre.y)
        resolution = pixel_size_in(target_crs, anchor, (float(lon), float(lat)))
    return G.Grid.from_geometry(
        geometry, target_crs, resolution, tap=True, geometry_crs=geometry_crs
    )


def same_shape(grids: list[G.Grid]) -> list[G.Grid]:
    """Grids grown right/bottom to the largest height and width, so reads stack into one
    array; the extra pixels are real data around the geometry, not padding."""
    h = max(g.height for g in grids)
    w = max(g.width for g in grids)
    return [g if g.shape == (h, w) else g.window_grid(Window(0, 0, w, h)) for g in grids]


def inside(geometry: shapely.Geometry, grid: G.Grid, geometry_crs: int | str = 4326) -> np.ndarray:
    """Which pixel centres of `grid` lie inside `geometry` (in `geometry_crs`), as
    (height, width)."""
    projected = geometry
    if not G.same_crs(geometry_crs, grid.crs):
        to_grid = G.transformer(geometry_crs, grid.crs)
        projected = shapely.transform(
            geometry, lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))
        )
    if isinstance(projected, shapely.Point | shapely.MultiPoint | shapely.LineString):
        return np.ones(grid.shape, bool)  # no area: keep the pixels that cover it
    a, b, c, d, e, f = grid.transform
    cols, rows = np.meshgrid(np.arange(grid.width) + 0.5, np.arange(grid.height) + 0.5)
    x = a * cols + b * rows + c
    y = d * cols + e * rows + f
    shapely.prepare(projected)
    return shapely.contains_xy(projected, x, y)
