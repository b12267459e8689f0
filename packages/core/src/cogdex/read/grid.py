"""Pixel grids (CRS + affine transform + shape) and the arithmetic between two grids.

A `Grid` is the plain, picklable description of a raster's pixels: it describes both a source
image (its CRS, geotransform and size) and the target a read resamples onto. The functions
here answer what the reader must know before fetching: which source pixels a target needs
(`source_window`), whether the target is just a window of the source (`aligned_window`), and
where every target pixel centre falls in the source (`CoordinateMap`, used by `warp`, which
reproduces GDAL's approximate transformer so that warps agree with GDAL's bit for bit).

Conventions (GDAL's): transforms are (a, b, c, d, e, f) mapping pixel (col, row) corners to
CRS coordinates, x = a*col + b*row + c, y = d*col + e*row + f; pixel (i, j) covers [i, i+1)
x [j, j+1) and its centre is (i + 0.5, j + 0.5). Coordinates go through PROJ (pyproj) with
`always_xy`, so geographic CRSs are (lon, lat) whatever their axis order: one transform
path for every pair, so a read's pixels never depend on what else the process imported.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import shapely

from cogdex.crs import normalise_crs, same_crs, to_crs, transformer
from cogdex.index import arrays as A
from cogdex.read.window import Window

if TYPE_CHECKING:
    import pyproj

Affine = tuple[float, float, float, float, float, float]
Bounds = tuple[float, float, float, float]
"""(left, bottom, right, top) in CRS units."""
Resampling = Literal["nearest", "bilinear"]

ALIGN_TOLERANCE = 1e-6
"""Largest misfit, in source pixels, at which two grids still count as aligned."""
DEFAULT_APPROX_ERROR = 0.125
"""Default coordinate error budget in source pixels (GDAL's approximate transformer's)."""

_EDGE_SLACK = 1e-10  # GDAL's: a coordinate this close below a pixel edge counts as on it


def _invert(t: Affine) -> Affine:
    a, b, c, d, e, f = t
    if b == 0 and d == 0:  # north-up: the same float operations as GDAL's inverse
        return (1.0 / a, 0.0, -c / a, 0.0, 1.0 / e, -f / e)
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return (ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f))


def containing_pixels(
    transform: Affine, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(cols, rows), as whole floats, of the pixels holding the points (x, y) of the grid's
    CRS, by the warp's nearest rule (`_EDGE_SLACK`): a point on a pixel edge lies in the
    pixel after it, as in rasterio's `rowcol`. A north-up grid measures from its origin,
    `(x - c) / a`: the inverse transform's `x / a - c / a` cancels two large terms, whose
    rounding (1.2e-10 px at 70°W on a 0.0001° grid) exceeds the slack and put a point on
    the image's west edge outside it."""
    a, b, c, d, e, f = transform
    if b == 0 and d == 0:
        cols, rows = (x - c) / a, (y - f) / e
    else:
        cols, rows = _apply(_invert(transform), x, y)
    return np.floor(cols + _EDGE_SLACK), np.floor(rows + _EDGE_SLACK)


def _compose(outer: Affine, inner: Affine) -> Affine:
    """The affine `outer(inner(p))`."""
    a1, b1, c1, d1, e1, f1 = outer
    a2, b2, c2, d2, e2, f2 = inner
    return (
        a1 * a2 + b1 * d2,
        a1 * b2 + b1 * e2,
        a1 * c2 + b1 * f2 + c1,
        d1 * a2 + e1 * d2,
        d1 * b2 + e1 * e2,
        d1 * c2 + e1 * f2 + f1,
    )


def _apply(t: Affine, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b, c, d, e, f = t
    return a * cols + b * rows + c, d * cols + e * rows + f


@dataclass(frozen=True, slots=True)
class Grid:
    """A raster's pixel grid: `crs`, affine `transform` (a..f) and `shape` (height, width).

    `crs` is kept as plain data, an EPSG code or any string pyproj reads (WKT, PROJJSON,
    PROJ), so grids pickle cheaply; `pyproj_crs` builds the CRS lazily, once per process.
    """

    crs: int | str
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "crs", normalise_crs(self.crs))
        t = tuple(float(v) for v in self.transform)
        if len(t) == 9 and t[6:] == (0.0, 0.0, 1.0):  # an affine.Affine
            t = t[:6]
        if len(t) != 6 or not all(map(math.isfinite, t)) or t[0] * t[4] - t[1] * t[3] == 0:
            raise ValueError(f"transform must be 6 finite, invertible terms, got {self.transform}")
        object.__setattr__(self, "transform", t)
        height, width = (int(v) for v in self.shape)
        if height < 0 or width < 0:
            raise ValueError(f"shape must be non-negative, got {self.shape}")
        object.__setattr__(self, "shape", (height, width))

    @classmethod
    def from_bounds(
        cls,
        crs: int | str | pyproj.CRS,
        bounds: Bounds,
        resolution: float | tuple[float, float],
        *,
        tap: bool = False,
    ) -> Grid:
        """The north-up grid of `resolution` (x, y; positive) covering `bounds`.

        Without `tap` the grid starts at (left, top) and has as many pixels as cover the
        bounds: the last column/row may overhang right/bottom by less than a pixel. With
        `tap` (GDAL's target-aligned pixels) the edges are first snapped outwards to
        multiples of the resolution, so grids made from different bounds share one pixel
        lattice and cut from each other without resampling. Edges within 1e-9 pixel of a
        multiple count as on it, so float noise never adds a pixel.
        """
        left, bottom, right, top = (float(v) for v in bounds)
        xres, yres = (resolution, resolution) if np.isscalar(resolution) else resolution
        xres, yres = float(xres), float(yres)
        if not (xres > 0 and yres > 0):
            raise ValueError(f"resolution must be positive, got {resolution}")
        if not (right > left and top > bottom):
            raise ValueError(f"bounds must have right > left and top > bottom, got {bounds}")
        eps = 1e-9
        if tap:
            left = math.floor(left / xres + eps) * xres
            right = math.ceil(right / xres - eps) * xres
            bottom = math.floor(bottom / yres + eps) * yres
            top = math.ceil(top / yres - eps) * yres
        width = max(1, math.ceil((right - left) / xres - eps))
        height = max(1, math.ceil((top - bottom) / yres - eps))
        return cls(normalise_crs(crs), (xres, 0.0, left, 0.0, -yres, top), (height, width))

    @classmethod
    def from_geometry(
        cls,
        geometry: shapely.Geometry | Bounds,
        crs: int | str | pyproj.CRS,
        resolution: float | tuple[float, float],
        *,
        tap: bool = True,
        geometry_crs: int | str | pyproj.CRS = 4326,
    ) -> Grid:
        """The grid in `crs` covering a geometry or (w, s, e, n) box in `geometry_crs`.

        `tap` defaults to True so that grids made for different areas of interest share
        one pixel lattice (see `from_bounds`).
        """
        crs = normalise_crs(crs)
        bounds = geometry_bounds(geometry, crs, geometry_crs=geometry_crs)
        return cls.from_bounds(crs, bounds, resolution, tap=tap)

    @property
    def pyproj_crs(self) -> pyproj.CRS:
        return to_crs(self.crs)

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, positive."""
        a, b, _, d, e, _ = self.transform
        return math.hypot(a, d), math.hypot(b, e)

    @property
    def bounds(self) -> Bounds:
        """(left, bottom, right, top) of the pixel corners."""
        cols = np.array([0.0, self.width, 0.0, self.width])
        rows = np.array([0.0, 0.0, self.height, self.height])
        x, y = _apply(self.transform, cols, rows)
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())

    def window_grid(self, window: Window) -> Grid:
        """The grid of a pixel window of this grid (it may hang off the edges)."""
        x, y = _apply(
            self.transform, np.asarray(window.col_off, float), np.asarray(window.row_off, float)
        )
        a, b, _, d, e, _ = self.transform
        return Grid(self.crs, (a, b, float(x), d, e, float(y)), (window.height, window.width))


def geometry_bounds(
    geometry: shapely.Geometry | Bounds,
    crs: int | str | pyproj.CRS,
    *,
    geometry_crs: int | str | pyproj.CRS = 4326,
    points: int = 100,
) -> Bounds:
    """Bounds in `crs` of a geometry or (w, s, e, n) box in `geometry_crs` (lon/lat).

    A geometry already in `crs` keeps its exact bounds: a round trip through another CRS
    would move pixel-aligned edges by float noise and add a row or column. Otherwise edges
    are densified to at least `points` vertices across the geometry's extent before
    transforming, because projected edges curve: the UTM bounds of a lon/lat box are wider
    than its transformed corners. Geometries crossing the antimeridian must be split first.
    """
    if not isinstance(geometry, shapely.Geometry):
        geometry = shapely.box(*geometry)
    crs, geometry_crs = normalise_crs(crs), normalise_crs(geometry_crs)
    if same_crs(geometry_crs, crs):
        return geometry.bounds
    geometry = densify(geometry, points)
    coords = shapely.get_coordinates(geometry)
    x, y = transformer(geometry_crs, crs).transform(coords[:, 0], coords[:, 1])
    x, y = np.asarray(x), np.asarray(y)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise ValueError(f"the geometry does not project into {crs}")
    return float(x[ok].min()), float(y[ok].min()), float(x[ok].max()), float(y[ok].max())


def densify(geometries: shapely.Geometry | np.ndarray, points: int = 100) -> Any:
    """Geometries with at least `points` vertices across each one's extent, so that their
    transformed edges follow the curves they become in another CRS.

    A polygon of no area (a box of zero width or height: a point or a transect given as a
    bbox) is densified as the point or line it is (`make_valid`'s collapse): GEOS cannot
    segmentize it, and raises for a point-sized box or returns an empty polygon for a
    flat one, whose bounds are NaN."""
    flat = np.isin(shapely.get_type_id(geometries), (3, 6)) & (shapely.area(geometries) == 0)
    if flat.any():
        geometries = np.where(flat, shapely.make_valid(geometries), geometries)
    bounds = shapely.bounds(geometries)
    step = np.maximum(bounds[..., 2] - bounds[..., 0], bounds[..., 3] - bounds[..., 1]) / points
    return shapely.segmentize(geometries, np.where(step > 0, step, np.inf))


def aligned_window(source: Grid, target: Grid) -> Window | None:
    """The window of `source` that `target` is, when `target` needs no resampling.

    Aligned means: same CRS, same pixel size and orientation, and an integer pixel offset,
    each to within `ALIGN_TOLERANCE` source pixels over the whole target; then reading the
    target is a plain window cut. The window may hang off the source. None otherwise.
    """
    if not same_crs(source.crs, target.crs):
        return None
    m = _compose(_invert(source.transform), target.transform)
    col, row = round(m[2]), round(m[5])
    corners_c = np.array([0.0, target.width, 0.0, target.width])
    corners_r = np.array([0.0, 0.0, target.height, target.height])
    sx, sy = _apply(m, corners_c, corners_r)
    misfit = max(np.abs(sx - corners_c - col).max(), np.abs(sy - corners_r - row).max())
    if misfit > ALIGN_TOLERANCE:
        return None
    return Window(col, row, target.width, target.height)


def aligned(a: Grid, b: Grid) -> bool:
    """Whether `b` is a window of `a` (see `aligned_window`): the reader can skip warping."""
    return aligned_window(a, b) is not None


def _to_source_pixels(
    source: Grid, target: Grid, cols: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Source pixel coordinates of target pixel coordinates, exactly; NaN where PROJ fails."""
    x, y = _apply(target.transform, cols, rows)
    if not same_crs(source.crs, target.crs):
        x, y = transformer(target.crs, source.crs).transform(x, y)
        x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
        bad = ~(np.isfinite(x) & np.isfinite(y))  # PROJ's failures come back as inf
        x[bad] = np.nan
        y[bad] = np.nan
    return _apply(_invert(source.transform), x, y)


class _Rows(NamedTuple):
    """Scanline segments: target row, first column, length (arrays of one length)."""

    row: np.ndarray
    col: np.ndarray
    n: np.ndarray


_Line = tuple[_Rows, np.ndarray, np.ndarray]
"""Segments interpolated along a line: the segments, start point (2, N), slope (2, N)."""


def _exact_at(source: Grid, target: Grid, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Exact source coordinates of target pixel centres, stacked as (2, N)."""
    return np.stack(_to_source_pixels(source, target, cols + 0.5, rows + 0.5))


def _scanline_pieces(
    source: Grid, target: Grid, max_error: float, rows: range
) -> tuple[list[_Line], list[_Rows]]:
    """GDAL's approximate transformer, for target `rows` (whole rows) at once.

    Per row segment, the first, middle and last pixel centres are transformed exactly; when
    the straight line from first to last misses the middle by at most `max_error` (L1, in
    source pixels) the whole segment is interpolated along that line, else it is split
    in two (the left half ends just before the middle) and each half is tried again;
    segments of 5 pixels or fewer, or touching a failed transform, are mapped exactly.
    Segments of one level are processed together, so Python loops over levels (about
    log2(width)), never over rows or pixels. Returns the accepted lines (segments, start
    point (2, N), slope (2, N)) and the segments to map exactly; segment rows count from
    `rows.start`.
    """
    h, w = len(rows), target.width
    seg = _Rows(np.arange(h), np.zeros(h, dtype=np.intp), np.full(h, w, dtype=np.intp))
    ends = np.concatenate([seg.col, seg.col + (seg.n - 1) // 2, seg.col + seg.n - 1])
    p = _exact_at(source, target, np.tile(seg.row, 3) + rows.start, ends).reshape(2, 3, h)
    first, middle, last = p[:, 0], p[:, 1], p[:, 2]
    lines: list[_Line] = []
    exact: list[_Rows] = []
    while len(seg.row):
        finite = np.isfinite(first).all(0) & np.isfinite(middle).all(0) & np.isfinite(last).all(0)
        half = (seg.n - 1) // 2
        slope = (last - first) / (seg.n - 1)
        error = np.abs(first + slope * half - middle).sum(axis=0)
        good = finite & ~(error > max_error)
        lines.append((_Rows(*(v[good] for v in seg)), first[:, good], slope[:, good]))
        exact.append(_Rows(*(v[~finite] for v in seg)))
        split = finite & ~good
        row, col, n = (v[split] for v in seg)
        first, middle, last, half = first[:, split], middle[:, split], last[:, split], half[split]
        left = _Rows(row, col, half)
        right = _Rows(row, col + half, n - half)
        # the new exact points: the left half's middle and end, the right half's middle
        new = _exact_at(
            source,
            target,
            np.tile(row, 3) + rows.start,
            np.concatenate([col + (half - 1) // 2, col + half - 1, right.col + (right.n - 1) // 2]),
        ).reshape(2, 3, len(row))
        failed = ~np.isfinite(new).all(axis=(0, 1))
        tiny_left, tiny_right = failed | (left.n <= 5), failed | (right.n <= 5)
        exact.append(_Rows(*(v[tiny_left] for v in left)))
        exact.append(_Rows(*(v[tiny_right] for v in right)))
        kl, kr = ~tiny_left, ~tiny_right
        seg = _Rows(*(np.concatenate([a[kl], b[kr]]) for a, b in zip(left, right, strict=True)))
        first = np.concatenate([first[:, kl], middle[:, kr]], axis=1)
        middle = np.concatenate([new[:, 0, kl], new[:, 2, kr]], axis=1)
        last = np.concatenate([new[:, 1, kl], last[:, kr]], axis=1)
    return lines, exact


def _expand(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flat indices of runs (start, length), and each one's offset in its run."""
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offset, offset


def _edge_candidates(
    seg: _Rows, first: np.ndarray, slope: np.ndarray, shape: tuple[int, int], width: int
) -> np.ndarray:
    """Flat indices of interpolated points that may lie less than a pixel outside the
    source: solved per segment on its line, so only a few pixels per row are looked at."""
    runs = []
    for axis, size in ((0, shape[1]), (1, shape[0])):
        f, d = first[axis], slope[axis]
        for lo, hi in ((-1.0, 0.0), (size, size + 1.0)):
            with np.errstate(divide="ignore", invalid="ignore"):
                a, b = (lo - f) / d, (hi - f) / d
            level = d == 0  # the line runs along the edge: all or nothing
            on = (f > lo - 1e-6) & (f < hi + 1e-6)
            i0 = np.where(level, np.where(on, 0, seg.n), np.floor(np.minimum(a, b)) - 1)
            i1 = np.where(level, -1, np.ceil(np.maximum(a, b)) + 1)
            i0 = np.clip(i0, 0, seg.n).astype(np.intp)
            i1 = np.where(level & on, seg.n - 1, np.clip(i1, -1, seg.n - 1)).astype(np.intp)
            runs.append((seg.row * width + seg.col + i0, np.maximum(i1 - i0 + 1, 0)))
    idx, _ = _expand(*(np.concatenate(v) for v in zip(*runs, strict=True)))
    return idx


class CoordinateMap:
    """Where target pixel centres fall in the source, handed out a block of rows at a time.

    Calling it with (start, stop) gives the (col, row) arrays, in continuous source pixel
    coordinates, of target rows start..stop; NaN where the CRS transform fails. `warp`
    samples block by block, so the whole target's coordinates never need to exist at once.

    The mapping follows GDAL's approximate transformer (see `_scanline_pieces`): a few
    points per row go through pyproj (or, in one CRS, just the two affines) and the rest
    are interpolated, within `approx_error` source pixels, so coordinates agree with GDAL's
    to the last bit, which decides ties on pixel edges; `approx_error=0` transforms every
    pixel exactly. Like GDAL, interpolated points less than a pixel outside the source are
    redone exactly, so the approximation never drops a pixel on the source's edges.

    `window` maps only that block of the target (rows and columns then count from its
    corner) to the very coordinates the whole target's map has there: the approximation
    still runs over the target's full rows, as it does for the whole target, so a target
    warped block by block (Dask chunks) samples exactly where one warp of it does.
    """

    def __init__(
        self,
        source: Grid,
        target: Grid,
        *,
        approx_error: float = DEFAULT_APPROX_ERROR,
        window: Window | None = None,
    ) -> None:
        part = Window(0, 0, target.width, target.height) if window is None else window
        if window is not None and clip_window(window, target.shape) != window:
            raise ValueError(f"window {window} is not a non-empty block of {target.shape}")
        rows = range(part.row_off, part.row_off + part.height)
        cols = range(part.col_off, part.col_off + part.width)
        self._cols = np.arange(cols.start, cols.stop, dtype=np.float64)
        self._origin = (0, 0)  # the source pixel the coordinates count from (see `shifted`)
        self._full: np.ndarray | None = None  # (2, rows, cols) when not computed per block
        if approx_error <= 0 or target.width <= 5:
            centres = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None] + 0.5
            self._full = np.stack(_to_source_pixels(source, target, self._cols + 0.5, centres))
            return
        lines, exact = _scanline_pieces(source, target, approx_error, rows)
        seg, first, slope = lines[0]
        candidates = A.distinct(
            np.concatenate([_edge_candidates(*line, source.shape, target.width) for line in lines])
        )
        r, c = np.divmod(candidates, target.width)
        in_window = (c >= cols.start) & (c < cols.stop)
        r, c = r[in_window], c[in_window]
        if len(seg.row) == len(rows):  # every row is one line, rows in order: per block
            self._first, self._slope = first, slope
            near = first[:, r] + slope[:, r] * c
        else:
            self._full = _assemble(source, target, lines, exact, rows, cols)
            near = self._full[:, r, c - cols.start]
        sh, sw = source.shape
        outside = np.maximum(np.maximum(-near[0], near[0] - sw), np.maximum(-near[1], near[1] - sh))
        redo = (outside > -_EDGE_SLACK) & (outside < 1)
        r, c = r[redo], c[redo]
        self._redo = r * part.width + (c - cols.start)  # flat indices in the window, ascending
        self._redo_at = _exact_at(source, target, r + rows.start, c)
        if self._full is not None:
            self._full[:, r, c - cols.start] = self._redo_at

    def shifted(self, window: Window) -> CoordinateMap:
        """This map in the pixels of `window` of the source, which a read of it holds.

        Subtracting the window's whole-pixel offset from coordinates at or past it is exact
        in float64, so a cut of the source is sampled exactly where the whole source would
        be, whatever the window; mapping onto a `Grid.window_grid` of the source instead
        rounds that grid's own transform, which moved 14 % of the coordinates of a
        cross-zone warp in their last bits, enough to flip a tie between two windows.
        """
        moved = copy.copy(self)
        moved._origin = (self._origin[0] + window.col_off, self._origin[1] + window.row_off)
        return moved

    def extent(self) -> tuple[float, float, float, float] | None:
        """(min col, max col, min row, max row) over every mapped point; None if none maps."""
        if self._full is not None:
            x, y = self._full.reshape(2, -1)
        else:  # lines: their values at the window's first and last column bound them
            ends = [self._slope * self._cols[k] + self._first for k in (0, -1)]
            x, y = np.concatenate([*ends, self._redo_at], axis=1)
        ok = np.isfinite(x)
        if not ok.any():
            return None
        ox, oy = self._origin
        x, y = x[ok], y[ok]
        return float(x.min()) - ox, float(x.max()) - ox, float(y.min()) - oy, float(y.max()) - oy

    def __call__(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        ox, oy = self._origin
        if self._full is not None:
            x, y = self._full[0, start:stop], self._full[1, start:stop]
            return (x, y) if self._origin == (0, 0) else (x - ox, y - oy)
        coords = []
        for first, slope, origin in zip(self._first, self._slope, (ox, oy), strict=True):
            v = slope[start:stop, None] * self._cols
            v += first[start:stop, None]
            if origin:
                v -= origin
            coords.append(v)
        w = len(self._cols)
        lo, hi = np.searchsorted(self._redo, [start * w, stop * w])
        if hi > lo:
            at = self._redo[lo:hi] - start * w
            for v, redone, origin in zip(coords, self._redo_at[:, lo:hi], (ox, oy), strict=True):
                v.reshape(-1)[at] = redone - origin
        return coords[0], coords[1]


def _clip(seg: _Rows, cols: range) -> tuple[_Rows, np.ndarray]:
    """Segments cut to the columns `cols`, and how far into its segment each cut starts."""
    start = np.maximum(seg.col, cols.start)
    n = np.maximum(np.minimum(seg.col + seg.n, cols.stop) - start, 0)
    return _Rows(seg.row, start, n), start - seg.col


def _assemble(
    source: Grid, target: Grid, lines: list[_Line], exact: list[_Rows], rows: range, cols: range
) -> np.ndarray:
    """Coordinates (2, rows, cols) of a block of target pixels, from accepted lines (each
    point at its offset along its whole segment) and exactly mapped segments."""
    w = len(cols)
    out = np.empty((2, len(rows) * w))
    for seg, first, slope in lines:
        part, skip = _clip(seg, cols)
        idx, offset = _expand(part.row * w + part.col - cols.start, part.n)
        offset += np.repeat(skip, part.n)
        out[:, idx] = np.repeat(first, part.n, axis=1) + np.repeat(slope, part.n, axis=1) * offset
    part, _ = _clip(_Rows(*(np.concatenate(v) for v in zip(*exact, strict=True))), cols)
    idx, _ = _expand(part.row * w + part.col - cols.start, part.n)
    out[:, idx] = _exact_at(source, target, idx // w + rows.start, idx % w + cols.start)
    return out.reshape(2, len(rows), w)


def source_coords(
    source: Grid, target: Grid, *, approx_error: float = DEFAULT_APPROX_ERROR
) -> tuple[np.ndarray, np.ndarray]:
    """Where each target pixel centre falls in the source: (col, row) arrays of the target's
    shape (see `CoordinateMap` for the rules)."""
    return CoordinateMap(source, target, approx_error=approx_error)(0, target.height)


def source_window(
    source: Grid, target: Grid, *, resampling: Resampling = "nearest"
) -> Window | None:
    """The source pixels that warping onto `target` reads, clipped to the source; None when
    the target sees none of the source (wholly outside it, or outside the CRS's domain).
    Warped targets read `sampled_window` of their coordinates.
    """
    if target.height == 0 or target.width == 0:
        return None
    win = aligned_window(source, target)
    if win is None:
        return sampled_window(CoordinateMap(source, target), source.shape, resampling=resampling)
    return clip_window(win, source.shape)


def sampled_window(
    coords: CoordinateMap, shape: Sequence[int], *, resampling: Resampling = "nearest"
) -> Window | None:
    """The pixels of a source of `shape` that sampling at `coords` reads; None when none.

    The extent of the very coordinates `warp` samples at, widened by the kernel (bilinear
    reads the next pixel too) and one pixel against float noise: a cut to this window,
    sampled at `coords.shifted(window)`, warps exactly as the whole source does.
    """
    extent = coords.extent()
    if extent is None:
        return None
    x_min, x_max, y_min, y_max = extent
    reach = 0.5 if resampling == "bilinear" else 0.0
    x0, x1 = math.floor(x_min - reach) - 1, math.floor(x_max + reach) + 2
    y0, y1 = math.floor(y_min - reach) - 1, math.floor(y_max + reach) + 2
    return clip_window(Window(x0, y0, x1 - x0, y1 - y0), shape)


def clip_window(window: Window, shape: Sequence[int]) -> Window | None:
    """`window` cut to an image of `shape` (height, width); None when nothing is left."""
    r0, c0 = max(window.row_off, 0), max(window.col_off, 0)
    r1 = min(window.row_off + window.height, shape[0])
    c1 = min(window.col_off + window.width, shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


__all__ = [
    "ALIGN_TOLERANCE",
    "DEFAULT_APPROX_ERROR",
    "Affine",
    "Bounds",
    "CoordinateMap",
    "Grid",
    "Resampling",
    "Window",
    "aligned",
    "aligned_window",
    "clip_window",
    "containing_pixels",
    "densify",
    "geometry_bounds",
    "same_crs",
    "sampled_window",
    "source_coords",
    "source_window",
    "to_crs",
    "transformer",
]
