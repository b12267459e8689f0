"""The read plan: geometries -> target grids -> slots -> the tiles each window needs.

Plain inputs, no I/O: a collection's rows (an Arrow table without assets, as
`Collection.read_inputs` hands it over), one `BandSource` per band, and the caller's
geometries. Out comes plain, picklable data that `read.scenes` and `read.reader` read:
`Slot`s (one output image each: a target grid and the rows drawn into it) and, per window
of a level, a `TilePlan`.

Target grids. Without `crs`/`resolution`, a geometry's grid is cut from the pixel lattice of the
first record (in `record_order`) that covers it (its "anchor"), so records on that lattice are read
as plain window cuts and only records in other CRSs (or with other pixel sizes) are warped. With
`crs` and/or `resolution` the grid snaps to multiples of the resolution (GDAL's
`-tap`), so grids of different geometries share one lattice.

Tiles. A `Window` is in pixels of a level and may extend beyond the image (the part
outside is fill). Bands are 0-based sample indices. Tiles are numbered as TIFF numbers
them: row by row within a plane, plane after plane (planar configuration 2).

Tile planning is on the path of `cogdex.open(...).read()`, which loads neither shapely,
pyarrow nor pyproj (~0.1 s of a short process): the grid and slot steps import them where
they run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cogdex.errors import GeometryError
from cogdex.read.window import Window

if TYPE_CHECKING:
    import pyarrow as pa
    import shapely

    from cogdex.index.band import BandSource
    from cogdex.read import grid as G
    from cogdex.read.geometries import Areas
    from cogdex.tiff.model import Level


# -- tiles ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class TilePlan:
    """The tiles a window needs: parallel arrays, one entry per tile.

    `index` points into the level's tile offset/byte-count arrays; `row` and `col` are the
    tile's position in the tile grid; `plane` the sample plane it holds (0 when contiguous).
    `sparse` marks tiles with no data in the file (offset or byte count 0), which are never
    fetched and read as the fill value.
    """

    window: Window
    index: np.ndarray
    row: np.ndarray
    col: np.ndarray
    plane: np.ndarray
    sparse: np.ndarray

    def __len__(self) -> int:
        return int(self.index.size)


def clip(window: Window, width: int, height: int) -> Window:
    """The part of `window` inside a width x height image (width/height 0 when none is)."""
    c0, r0 = max(window.col_off, 0), max(window.row_off, 0)
    c1 = min(window.col_off + window.width, width)
    r1 = min(window.row_off + window.height, height)
    return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


def plan_window(level: Level, window: Window, bands: Sequence[int]) -> TilePlan:
    """The tiles of `level` that cover `window` for `bands`."""
    c0, r0, w, h = clip(window, level.width, level.height)
    empty = np.empty(0, dtype=np.int64)
    if w == 0 or h == 0 or len(bands) == 0:
        return TilePlan(window, empty, empty, empty, empty, np.empty(0, dtype=bool))
    tw, th = level.tile_width, level.tile_height
    cols = np.arange(c0 // tw, (c0 + w - 1) // tw + 1, dtype=np.int64)
    rows = np.arange(r0 // th, (r0 + h - 1) // th + 1, dtype=np.int64)
    if level.planar == 2:
        planes = np.array(sorted(set(bands)), dtype=np.int64)
    else:
        planes = np.zeros(1, dtype=np.int64)
    # plane-major, then row, then column (numpy's meshgrid "ij" order, at a sixth of its
    # cost: this runs for every window of every read)
    shape = (len(planes), len(rows), len(cols))
    plane = np.repeat(planes, len(rows) * len(cols))
    row_grid, col_grid = np.empty(shape, np.int64), np.empty(shape, np.int64)
    row_grid[...] = rows[:, None]
    col_grid[...] = cols
    row, col = row_grid.ravel(), col_grid.ravel()
    across = level.tiles_across
    index = (plane * level.tiles_down + row) * across + col
    sparse = (level.tile_offsets[index] == 0) | (level.tile_byte_counts[index] == 0)
    return TilePlan(window, index, row, col, plane, sparse)


# -- target grids --------------------------------------------------------------------------


def pixel_size_in(crs: int | str, anchor: G.Grid, at: tuple[float, float]) -> float:
    """The anchor's pixel size expressed in `crs` units, near lon/lat point `at`."""
    from cogdex.read import grid as G

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
    from cogdex.read import grid as G

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
    import shapely

    from cogdex.read import grid as G

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
    import shapely

    from cogdex.read import grid as G

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


def level_grid(src: BandSource, i: int, k: int) -> G.Grid:
    """Grid of level k of record i: the base transform scaled to the level's pixel size
    (made once per source, record and level: every piece of every read plans with it)."""
    grid = src._grids.get((i, k))
    if grid is None:
        grid = src._grids[(i, k)] = _level_grid(src, i, k)
    return grid


def _level_grid(src: BandSource, i: int, k: int) -> G.Grid:
    from cogdex.read import grid as G

    lv = int(src.level_start[i]) + k
    base = int(src.level_start[i])
    w0, h0 = int(src.levels["width"][base]), int(src.levels["height"][base])
    wk, hk = int(src.levels["width"][lv]), int(src.levels["height"][lv])
    a, b, c, d, e, f = (float(v) for v in src.transform[i])
    sx, sy = w0 / wk, h0 / hk
    crs = int(src.epsg[i]) or src.crs[i]
    return G.Grid(crs, (a * sx, b * sy, c, d * sx, e * sy, f), (hk, wk))


def record_grid(src: BandSource, i: int) -> G.Grid:
    """Full-resolution grid of record i of `src` (its position in the BandSource, not the
    collection row): where the record lies, for adapters that index records by footprint."""
    return level_grid(src, i, 0)


# -- slots ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """One output image: `grid`, and the collection rows that may cover it, merge order.

    With `window` only that block of the grid is read (a Dask chunk, say), and its pixels
    are exactly those a read of the whole grid has there: the overview level is chosen for,
    and warp coordinates are computed on, the whole grid.
    """

    grid: G.Grid
    rows: tuple[int, ...]
    window: Window | None = None

    @property
    def block(self) -> Window:
        """The block of `grid` read: `window`, else all of it."""
        return (
            Window(0, 0, self.grid.width, self.grid.height) if self.window is None else self.window
        )

    @property
    def target(self) -> G.Grid:
        """The grid of the pixels read: `grid`, or the grid of its `window`."""
        return self.grid if self.window is None else self.grid.window_grid(self.window)


class SlotPlan(NamedTuple):
    """`plan_slots`' result: the slots, the geometry each one is of, and the geometries."""

    slots: list[Slot]
    owner: list[int]
    areas: Areas


def plan_slots(
    table: pa.Table,
    sources: Sequence[BandSource],
    geometries: Any,
    *,
    geometry_crs: int | str | None,
    resolution: float | tuple[float, float] | None,
    crs: int | str | None,
    merge: str | None,
    group_by: str | None,
) -> SlotPlan:
    """The slots of a read of `sources` over `geometries` (see `Collection.get_numpy` for
    the arguments): one per (geometry, intersecting record), or with `merge` one per
    (geometry, group of records by `group_by`), records in `record_order`. `table` holds the
    collection's rows (their `geometry` footprints, `datetime`, `id` and the `group_by`
    column). A geometry that meets no record has no slot, and an `EmptyReadWarning` names
    its bounds."""
    from cogdex.read.geometries import as_areas, warn_empty

    areas = as_areas(geometries, geometry_crs)
    hits = _footprint_hits(table, areas.lonlat)
    grids: list[G.Grid | None] = []
    for k, (shape, rows) in enumerate(zip(areas.shapes, hits, strict=True)):
        anchor = _anchor(sources, rows)
        if anchor is None:
            what = f"geometry {k}" if len(areas) > 1 else "the geometry"
            warn_empty(what, shape.bounds, areas.crs)
            grids.append(None)
            continue
        _check_not_across(areas.lonlat[k], anchor.crs if crs is None else crs, k, len(areas))
        grids.append(target_grid(shape, anchor, crs=crs, resolution=resolution,
                                 geometry_crs=areas.crs))  # fmt: skip
    known = [g for g in grids if g is not None]
    if not known:
        return SlotPlan([], [], areas)
    grids = _same_shape(grids)
    slots: list[Slot] = []
    owner: list[int] = []
    for k, (grid, rows) in enumerate(zip(grids, hits, strict=True)):
        if grid is None or len(rows) == 0:
            continue
        if merge is None:
            for row in rows.tolist():
                slots.append(Slot(grid, (row,)))
                owner.append(k)
            continue
        keys = _group_keys(table, rows, group_by)
        groups: dict[Any, list[int]] = {}
        for key, row in zip(keys, rows.tolist(), strict=True):
            groups.setdefault(key, []).append(row)
        for key in sorted(groups, key=lambda v: (v is None, v)):
            slots.append(Slot(grid, tuple(groups[key])))
            owner.append(k)
    return SlotPlan(slots, owner, areas)


def _check_not_across(lonlat: shapely.Geometry, crs: int | str, k: int, n: int) -> None:
    """Refuse a geometry cut at the antimeridian (RFC 7946: its lon/lat bbox has west >
    east) as the area of a grid in a lon/lat CRS: the grid would be cut from its planar
    bounds, -180..180, every longitude between its two sides."""
    from cogdex.index.query import footprint_bbox
    from cogdex.read.bbox import is_geographic

    west, _, east, _ = footprint_bbox(lonlat)
    if west <= east or not is_geographic(crs):
        return
    what = f"geometry {k}" if n > 1 else "the geometry"
    raise GeometryError(
        f"{what} crosses the antimeridian (lon {west:g} east across 180 to {east:g}): an "
        f"output grid in the lon/lat CRS {crs} would span every longitude between its two "
        "sides; read each side as its own geometry, or pass a crs= continuous across 180 "
        "(e.g. a UTM zone 1 or 60, or 3832)",
        argument="crs",
    )


def _footprint_hits(table: pa.Table, shapes: np.ndarray) -> list[np.ndarray]:
    """For each lon/lat geometry, the rows whose footprint intersects it, in record order
    (`record_order`)."""
    import shapely

    from cogdex.index import arrays as A

    footprints = shapely.from_wkb(A.to_numpy(table.column("geometry")))
    g, r = shapely.STRtree(footprints).query(shapes, predicate="intersects")
    order = record_order(table, r)
    g, r = g[order], r[order]
    order = np.argsort(g, kind="stable")
    g, r = g[order], r[order]
    return [r[g == k] for k in range(len(shapes))]


def record_order(table: pa.Table, rows: np.ndarray) -> np.ndarray:
    """Positions that put `rows` in record order: by `datetime` (records without one last),
    then by `id`. A read takes its records in this order (its grid's anchor, a merge's
    `first`/`last`, the order of its images), never in the table's row order, which a
    build's spatial sort, `extend` or an export and load change: the same records give the
    same pixels whatever order they are stored in. Only tied records' ids are looked up
    (one scalar each: a `take` of the column would load pyarrow's compute kernels and its
    index array pandas)."""
    from cogdex.index import arrays as A

    moments = A.to_numpy(table.column("datetime"))[rows]
    keys = np.where(np.isnat(moments), np.iinfo(np.int64).max, moments.astype(np.int64))
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    ids = np.full(len(rows), "", dtype=object)
    column = table.column("id")
    for k in np.flatnonzero(counts[inverse] > 1).tolist():
        ids[k] = column[int(rows[k])].as_py()
    return np.lexsort((ids.astype(str), keys))


def _anchor(sources: Sequence[BandSource], rows: np.ndarray) -> G.Grid | None:
    """Level-0 grid of the first row (in record order) that has the first available band."""
    for src in sources:
        pos = {int(r): i for i, r in enumerate(src.rows)}
        for row in rows.tolist():
            if row in pos and np.isfinite(src.transform[pos[row]]).all():
                return level_grid(src, pos[row], 0)
    return None


def _group_keys(table: pa.Table, rows: np.ndarray, group_by: str | None) -> list[Any]:
    from cogdex.index import arrays as A

    if group_by is None:
        return [0] * len(rows)
    if group_by == "date":
        days = A.to_numpy(table.column("datetime"))[rows]
        return days.astype("datetime64[D]").tolist()
    if group_by not in table.column_names:
        raise KeyError(f"group_by column {group_by!r} is not in the collection")
    return A.to_numpy(table.column(group_by))[rows].tolist()


def _same_shape(grids: list[G.Grid | None]) -> list[G.Grid | None]:
    """`same_shape` of the known grids, in place of them (None stays None)."""
    known = same_shape([g for g in grids if g is not None])
    it = iter(known)
    return [None if g is None else next(it) for g in grids]


__all__ = [
    "Slot",
    "SlotPlan",
    "TilePlan",
    "clip",
    "inside",
    "level_grid",
    "on_lattice",
    "pixel_size_in",
    "plan_slots",
    "plan_window",
    "record_grid",
    "same_shape",
    "target_grid",
]
