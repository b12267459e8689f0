"""Records -> the GeoDataFrame TorchGeo samplers walk: one footprint per record.

Footprints come from the headers in the collection (no request): a record's extent is its
raster's, taken from the first requested band it has. A record in another CRS gets the box
around points along its edges, transformed, so a sampler never skips it; that box is
widened to the dataset's pixel lattice (the first native record's, else multiples of the
resolution), because TorchGeo's samplers snap chips to the index bounds: on the lattice,
chips of native records are window cuts rather than resampled. The index holds each
record's collection row, which is all `__getitem__` needs to plan a read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely

from cogdex.sdk import BandSource, pixel_size_in, record_grid
from cogdex.sdk import grid as G

EDGE_POINTS = 21
"""Points per edge when a footprint is transformed to another CRS (GDAL samples as many)."""


def crs_key(crs: int | str | pyproj.CRS) -> int | str:
    """The plain value cogdex grids carry for a CRS: its EPSG code, else its WKT."""
    parsed = pyproj.CRS.from_user_input(crs)
    code = parsed.to_epsg(min_confidence=100)
    return code if code is not None else parsed.to_wkt()


def _placed(sources: Sequence[BandSource]) -> dict[int, tuple[BandSource, int]]:
    """Collection row -> (band source, position) of the first requested band it has."""
    found: dict[int, tuple[BandSource, int]] = {}
    for src in sources:
        finite = np.isfinite(src.transform).all(axis=1)
        for i in np.flatnonzero(finite).tolist():
            found.setdefault(int(src.rows[i]), (src, i))
    return found


def _edge_pixels() -> tuple[np.ndarray, np.ndarray]:
    """(col, row) fractions of the width/height along the four edges of an image."""
    s = np.linspace(0.0, 1.0, EDGE_POINTS)
    ones, zeros = np.ones_like(s), np.zeros_like(s)
    return np.concatenate([s, ones, s[::-1], zeros]), np.concatenate([zeros, s, ones, s[::-1]])


def _lattice_pixels() -> tuple[np.ndarray, np.ndarray]:
    """(col, row) fractions of a lattice over a whole image: where some edge points do not
    project (a global record seen from a geostationary orbit), the visible part's extent
    lies inside the image, so its inside is sampled too, as GDAL does."""
    s = np.linspace(0.0, 1.0, EDGE_POINTS)
    cols, rows = np.meshgrid(s, s)
    return cols.ravel(), rows.ravel()


def _points(
    grids: list[G.Grid],
    fractions: tuple[np.ndarray, np.ndarray],
    to: pyproj.Transformer | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the points at `fractions` of each grid's width and height, (grids, points)
    each, transformed by `to` (None: as they are); NaN where they do not project."""
    t = np.array([g.transform[:6] for g in grids], dtype=np.float64)  # (n, 6)
    w = np.array([g.width for g in grids], dtype=np.float64)[:, None]
    h = np.array([g.height for g in grids], dtype=np.float64)[:, None]
    cols, rows = fractions[0][None, :] * w, fractions[1][None, :] * h
    x = t[:, 0:1] * cols + t[:, 1:2] * rows + t[:, 2:3]
    y = t[:, 3:4] * cols + t[:, 4:5] * rows + t[:, 5:6]
    if to is None:
        return x, y
    tx, ty = to.transform(x.ravel(), y.ravel())
    x, y = np.asarray(tx).reshape(x.shape), np.asarray(ty).reshape(y.shape)
    ok = np.isfinite(x) & np.isfinite(y)
    return np.where(ok, x, np.nan), np.where(ok, y, np.nan)


def _snap(lo: float, hi: float, origin: float, step: float) -> tuple[float, float]:
    """[lo, hi] widened to the lattice origin + k * step."""
    eps = 1e-9
    return (
        origin + math.floor((lo - origin) / step + eps) * step,
        origin + math.ceil((hi - origin) / step - eps) * step,
    )


def _footprints(
    grids: list[G.Grid],
    target: int | str,
    res: tuple[float, float],
    origin: tuple[float, float],
) -> list[shapely.Polygon]:
    """Axis-aligned boxes around each grid's extent in the target CRS; transformed ones
    widened to the lattice of `res` through `origin`."""
    boxes: list[shapely.Polygon | None] = [None] * len(grids)
    by_crs: dict[int | str, list[int]] = {}
    for k, grid in enumerate(grids):
        by_crs.setdefault(grid.crs, []).append(k)
    lonlat = G.to_crs(target).is_geographic
    for crs, members in by_crs.items():
        native = G.same_crs(crs, target)
        to = None if native else G.transformer(crs, target)
        x, y = _points([grids[k] for k in members], _edge_pixels(), to)
        for j, k in enumerate(members):
            xs, ys = x[j], y[j]
            if lonlat and not native and np.nanmax(np.abs(np.diff(xs)), initial=0) > 180:
                raise ValueError(
                    f"a record in {crs} crosses the antimeridian: in the lon/lat dataset CRS "
                    f"{target} its box would span every longitude, and chips anywhere along "
                    f"it would read as this record; pass a projected crs= (e.g. {crs})"
                )
            if np.isnan(xs).any():
                inside = _points([grids[k]], _lattice_pixels(), to)
                xs, ys = np.concatenate([xs, inside[0][0]]), np.concatenate([ys, inside[1][0]])
            if np.isnan(xs).all():
                continue  # wholly outside the target CRS's domain
            x0, x1 = float(np.nanmin(xs)), float(np.nanmax(xs))
            y0, y1 = float(np.nanmin(ys)), float(np.nanmax(ys))
            if not native:
                x0, x1 = _snap(x0, x1, origin[0], res[0])
                y0, y1 = _snap(y0, y1, origin[1], res[1])
            boxes[k] = shapely.box(x0, y0, x1, y1)
    return [b if b is not None else shapely.Polygon() for b in boxes]


def _stamps(table: pa.Table, name: str, rows: np.ndarray) -> np.ndarray:
    values = table.column(name).to_numpy(zero_copy_only=False)[rows]
    return np.asarray(values, dtype="datetime64[ns]")


def _intervals(table: pa.Table, rows: np.ndarray) -> pd.IntervalIndex:
    """[datetime, end_datetime or datetime] per record (closed both, naive UTC, as TorchGeo
    compares them): an annual product spans its year. Records without a datetime span all
    time, like undated files in a RasterDataset."""
    stamps = _stamps(table, "datetime", rows)
    ends = stamps
    if "end_datetime" in table.column_names and pa.types.is_timestamp(
        table.schema.field("end_datetime").type
    ):
        given = _stamps(table, "end_datetime", rows)
        ends = np.where(np.isnat(given), stamps, given)
    missing = np.isnat(stamps)
    left = np.where(missing, pd.Timestamp.min.to_datetime64(), stamps)
    right = np.where(missing, pd.Timestamp.max.to_datetime64(), ends)
    return pd.IntervalIndex.from_arrays(left, right, closed="both", name="datetime")


def build_index(
    table: pa.Table,
    sources: Sequence[BandSource],
    crs: int | str | pyproj.CRS | None,
    res: float | tuple[float, float] | None,
) -> tuple[gpd.GeoDataFrame, tuple[float, float]]:
    """(index, resolution): footprints of every placeable record in the dataset CRS (the
    given one, else the first record's), in time order (ties by id: never the table's row
    order, which an export and load change), and the pixel size (the given one, else that
    of the first record in the dataset CRS, else the first record's measured in the dataset
    CRS)."""
    placed = _placed(sources)
    if not placed:
        bands = ", ".join(s.band for s in sources)
        raise ValueError(f"no record of the collection has a georeferenced file for {bands}")
    rows = np.array(sorted(placed), dtype=np.int64)
    intervals = _intervals(table, rows)
    ids = np.asarray(table.column("id").to_numpy(zero_copy_only=False)[rows], dtype=str)
    order = np.lexsort((ids, intervals.left.to_numpy()))
    rows, ids, intervals = rows[order], ids[order], intervals[order]
    grids = [record_grid(*placed[int(r)]) for r in rows]
    target = grids[0].crs if crs is None else crs_key(crs)
    resolution = _resolution(res, grids, target)
    native = [g for g in grids if G.same_crs(g.crs, target)]
    origin = (native[0].transform[2], native[0].transform[5]) if native else (0.0, 0.0)
    footprints = _footprints(grids, target, resolution, origin)
    keep = np.array([not f.is_empty for f in footprints])
    index = gpd.GeoDataFrame(
        {"id": ids[keep].astype(object), "row": rows[keep]},
        index=intervals[keep],
        geometry=[f for f, k in zip(footprints, keep, strict=True) if k],
        crs=G.to_crs(target),
    )
    return index, resolution


def _resolution(
    res: float | tuple[float, float] | None, grids: list[G.Grid], target: int | str
) -> tuple[float, float]:
    if res is not None:
        xres, yres = (res, res) if np.isscalar(res) else res
        return float(xres), float(yres)
    for grid in grids:
        if G.same_crs(grid.crs, target):
            return grid.res
    first = grids[0]
    left, bottom, right, top = first.bounds
    lon, lat = G.transformer(first.crs, 4326).transform((left + right) / 2, (bottom + top) / 2)
    size = pixel_size_in(target, first, (float(lon), float(lat)))
    return size, size
