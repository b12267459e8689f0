"""Resample a source array onto a target `Grid`: nearest or bilinear, numpy only.

The rules are GDAL's warper's, down to its float arithmetic, so that results match
`rasterio.warp.reproject` bit for bit (docs/warp.md has the measurements): a target pixel
samples the source at its centre (coordinates from `CoordinateMap`, GDAL's approximate
transformer); nearest takes the source pixel containing that point; bilinear blends the four
pixels around it, leaving out invalid ones and renormalising the remaining weights. A target
pixel is valid when the source pixel containing its centre is inside the source and valid,
and (bilinear) when its valid neighbours carry a weight of at least 1e-5. Source validity is
GDAL's unified nodata rule: a pixel is invalid when every band equals `nodata` (NaN matches
NaN), or when the caller's `valid` mask says so.

Bilinear is always the 4-pixel kernel, also when the target is much coarser than the source
(GDAL then widens the kernel): the reader picks the overview closest to the target
resolution first, which keeps the scale near 1 and reads far fewer bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from cogdex.read.grid import (
    _EDGE_SLACK,
    DEFAULT_APPROX_ERROR,
    CoordinateMap,
    Grid,
    Resampling,
    aligned_window,
    clip_window,
)
from cogdex.read.mosaic import convert
from cogdex.read.window import Window

_MIN_WEIGHT = 1e-5  # below this total weight of valid neighbours a bilinear pixel is empty
_BLOCK_PIXELS = 1 << 16  # target pixels sampled per step: numpy's temporaries stay in cache


class _Points(NamedTuple):
    """Where one block of target rows samples the source: the coordinates (bilinear only,
    else None), the flat index of each point's containing pixel and whether it is inside."""

    sx: np.ndarray | None
    sy: np.ndarray | None
    flat: np.ndarray
    inside: np.ndarray


class Sampling:
    """A warp's sample points on one source shape, worked out once for every warp that
    shares its `CoordinateMap`: the bands of a scene (a file each) and the scenes of one
    grid sample the very same points, and computing them is ~3/4 of a nearest warp's CPU.

    Holds `nbytes(pixels, resampling)` for the whole target (9 bytes a pixel, 25 bilinear),
    from the first warp that uses it (the others wait for it) until its last of `users`
    calls `done`. Values are those a warp computes alone, bit for bit.
    """

    def __init__(
        self,
        coords: CoordinateMap,
        source_shape: tuple[int, int],
        target_shape: tuple[int, int],
        resampling: Resampling,
        users: int,
    ) -> None:
        self.coords, self.resampling = coords, resampling
        self.source_shape, self.target_shape = source_shape, target_shape
        self._users = users
        self._points: list[_Points] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def nbytes(pixels: int, resampling: Resampling) -> int:
        """Bytes held for a target of `pixels`: index and inside flag, plus both
        coordinates for bilinear."""
        return pixels * (np.dtype(np.intp).itemsize + 1 + (16 if resampling == "bilinear" else 0))

    def points(self) -> list[_Points]:
        """Every block of rows' points, in `warp`'s blocks (computed on first use)."""
        with self._lock:
            if self._points is None:
                self._points = self._compute()
            return self._points

    def prepare(self) -> None:
        """Work the points out before the first warp asks (a read does it while its tiles
        are in flight, so the warps after the last byte only gather); nothing once every
        user is done, as no warp would free them then."""
        with self._lock:
            if self._points is None and self._users > 0:
                self._points = self._compute()

    def _compute(self) -> list[_Points]:
        height, width = self.target_shape
        step = _rows_per_block(width)
        keep = self.resampling == "bilinear"
        return [
            _points(self.coords, r, r + step, self.source_shape, keep)
            for r in range(0, height, step)
        ]

    def done(self) -> None:
        """One user has warped: the last one drops the points."""
        with self._lock:
            self._users -= 1
            if self._users <= 0:
                self._points = None


def _rows_per_block(width: int) -> int:
    return max(1, _BLOCK_PIXELS // max(width, 1))


def _points(
    coords: CoordinateMap, start: int, stop: int, shape: tuple[int, int], keep: bool
) -> _Points:
    sx, sy = coords(start, stop)
    flat, inside = _containing(sx, sy, shape)
    return _Points(sx, sy, flat, inside) if keep else _Points(None, None, flat, inside)


class _Source(NamedTuple):
    """The source prepared once per warp: flat bands and validity."""

    bands: np.ndarray  # (bands, H*W)
    shape: tuple[int, int]
    ok: np.ndarray | None  # (H*W,) valid pixels; None when all are
    block_ok: np.ndarray | None  # (H*W,) whether the 2x2 block from each pixel is all valid


def warp(
    data: np.ndarray,
    source: Grid,
    target: Grid,
    *,
    resampling: Resampling = "nearest",
    nodata: float | None = None,
    valid: np.ndarray | None = None,
    fill: float | None = None,
    dtype: DTypeLike | None = None,
    approx_error: float = DEFAULT_APPROX_ERROR,
    coords: CoordinateMap | None = None,
    out: np.ndarray | None = None,
    sampling: Sampling | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample `data` (bands, height, width) on `source` onto `target`.

    Returns the warped array (bands, target height, target width) and a boolean mask of the
    target pixels that received a value; the others hold `fill` (default: `nodata`, else 0).
    `valid` optionally marks the valid source pixels (e.g. a COG's mask band). `dtype`
    None keeps the source dtype: bilinear results on integers are rounded half up and
    clipped to the type's range, as GDAL does; pass np.float32 to keep the fractions.
    `approx_error` is the coordinate error budget in source pixels (0: exact, slower).
    `coords`, where target pixels fall in `data`'s pixels, when the caller has them: bands
    of one scene share one map, and a window of a larger target maps with that target's
    coordinates (`CoordinateMap(..., window=...).shifted(...)`); default
    `CoordinateMap(source, target)`. `out`, when given, is the array written and returned
    (a block of the caller's output: no copy of the warped bands). `sampling`, instead of
    `coords`: the points warps of these very grids and resampling share (see `Sampling`).
    Aligned grids (see `aligned_window`) are a plain window cut, byte for byte.
    """
    if resampling not in ("nearest", "bilinear"):
        raise ValueError(f"resampling must be 'nearest' or 'bilinear', not {resampling!r}")
    if data.ndim != 3 or data.shape[1:] != source.shape:
        raise ValueError(f"data must be (bands, *{source.shape}), got {data.shape}")
    if valid is not None and valid.shape != source.shape:
        raise ValueError(f"valid must have the source shape {source.shape}, got {valid.shape}")
    out_dtype = np.dtype(data.dtype if dtype is None else dtype)
    if fill is None:
        fill = 0 if nodata is None else nodata
    _check_fill(fill, out_dtype)
    shape = (data.shape[0], *target.shape)
    if out is not None and (out.shape != shape or out.dtype != out_dtype):
        raise ValueError(f"out must be {out_dtype} of shape {shape}, not {out.dtype} {out.shape}")
    src_ok = _source_valid(data, nodata, valid)
    win = aligned_window(source, target)
    if win is not None:
        cut, mask = _cut(data, src_ok, win, fill, out_dtype)
        if out is None:
            return cut, mask
        out[...] = cut
        return out, mask
    if sampling is not None and (
        (sampling.source_shape, sampling.target_shape, sampling.resampling)
        != (source.shape, target.shape, resampling)
    ):
        raise ValueError("sampling was made for other grids or another resampling")
    if coords is None and sampling is None:
        coords = CoordinateMap(source, target, approx_error=approx_error)
    src = _prepare(data, src_ok, with_blocks=resampling == "bilinear")
    sample: Callable[..., None] = _nearest if resampling == "nearest" else _bilinear
    out = np.empty(shape, dtype=out_dtype) if out is None else out
    mask = np.empty(target.shape, dtype=bool)
    step = _rows_per_block(target.width)
    shared = sampling.points() if sampling is not None else None
    for k, r in enumerate(range(0, target.height, step)):
        rows = slice(r, r + step)
        if shared is not None:
            points = shared[k]
        else:
            assert coords is not None
            points = _points(coords, r, r + step, src.shape, resampling == "bilinear")
        sample(src, points, fill, out[:, rows], mask[rows])
    return out, mask


def _check_fill(fill: float, dtype: np.dtype) -> None:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (np.isfinite(fill) and fill == int(fill) and info.min <= fill <= info.max):
            raise ValueError(f"fill {fill} is not a {dtype} value")


def _source_valid(
    data: np.ndarray, nodata: float | None, valid: np.ndarray | None
) -> np.ndarray | None:
    """(H, W) bool of usable source pixels, or None when all are."""
    ok = None if valid is None else np.asarray(valid, dtype=bool)
    if nodata is not None:
        if len(data) == 1:  # one band (a file per band): one pass, no reduction
            has_value = ~np.isnan(data[0]) if np.isnan(nodata) else data[0] != nodata
        else:
            empty = np.isnan(data) if np.isnan(nodata) else data == nodata
            has_value = ~empty.all(axis=0)
        ok = has_value if ok is None else ok & has_value
    return ok


def _cut(
    data: np.ndarray, src_ok: np.ndarray | None, win: Window, fill: float, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    out = np.full((data.shape[0], win.height, win.width), fill, dtype=dtype)
    mask = np.zeros((win.height, win.width), dtype=bool)
    inner = clip_window(win, data.shape[1:])
    if inner is not None:
        src = np.s_[inner.row_off : inner.row_off + inner.height,
                    inner.col_off : inner.col_off + inner.width]  # fmt: skip
        r, c = inner.row_off - win.row_off, inner.col_off - win.col_off
        dst = np.s_[r : r + inner.height, c : c + inner.width]
        convert(data[(slice(None), *src)], dtype, out=out[(slice(None), *dst)])
        mask[dst] = True if src_ok is None else src_ok[src]
        if src_ok is not None:
            out[:, ~mask] = fill
    return out, mask


def _prepare(data: np.ndarray, src_ok: np.ndarray | None, *, with_blocks: bool) -> _Source:
    h, w = data.shape[1:]
    block_ok = None
    if with_blocks and src_ok is not None:
        blocks = np.zeros((h, w), dtype=bool)
        blocks[:-1, :-1] = src_ok[:-1, :-1] & src_ok[:-1, 1:] & src_ok[1:, :-1] & src_ok[1:, 1:]
        block_ok = blocks.reshape(-1)
    ok = None if src_ok is None else src_ok.reshape(-1)
    return _Source(data.reshape(data.shape[0], -1), (h, w), ok, block_ok)


def _containing(
    sx: np.ndarray, sy: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Flat index of the source pixel holding each point (0 outside), and whether inside.

    GDAL's rule: a point within `_EDGE_SLACK` below a pixel edge belongs to the next pixel,
    and one that close to the far edge of the image to the last pixel.
    """
    h, w = shape
    inside = sx >= 0
    inside &= sy >= 0
    ix = sx + _EDGE_SLACK
    iy = sy + _EDGE_SLACK
    inside &= ix <= w  # NaN compares False: not inside
    inside &= iy <= h
    np.floor(ix, out=ix)
    np.floor(iy, out=iy)
    np.minimum(ix, w - 1, out=ix)
    np.minimum(iy, h - 1, out=iy)
    iy *= w
    iy += ix
    iy[~inside] = 0
    return iy.astype(np.intp), inside


def _nearest(src: _Source, points: _Points, fill: float, out: np.ndarray, mask: np.ndarray) -> None:
    flat = points.flat
    mask[...] = points.inside
    if src.ok is not None:
        mask &= src.ok[flat]
    empty = ~mask
    for band, v in zip(out, src.bands, strict=True):
        convert(v[flat], out.dtype, out=band)
        np.copyto(band, fill, where=empty)


def _bilinear(
    src: _Source, points: _Points, fill: float, out: np.ndarray, mask: np.ndarray
) -> None:
    """GDAL's 4-pixel bilinear, with its float arithmetic so that roundings agree.

    Points whose 2x2 block is inside the source and valid (all but a thin band along edges
    and nodata) take the direct formula; the rest drop their invalid or missing neighbours
    and renormalise the remaining weights. As in GDAL, sources with a validity mask sum the
    four weighted pixels (dividing by the weights' sum), sources without interpolate rows.
    """
    h, w = src.shape
    sx, sy, centre = points.sx, points.sy, points.flat
    assert sx is not None and sy is not None
    mask[...] = points.inside
    if src.ok is not None:
        mask &= src.ok[centre]
    # the block's top-left pixel, and GDAL's weights of the block's left column / top row
    x0 = np.floor(sx - 0.5)
    y0 = np.floor(sy - 0.5)
    rx = 1.5 - (sx - x0)
    ry = 1.5 - (sy - y0)
    regular = mask & (x0 >= 0) & (x0 < w - 1) & (y0 >= 0) & (y0 < h - 1)
    top_left = y0 * w
    top_left += x0
    top_left[~regular] = 0
    tl = top_left.astype(np.intp)
    if src.block_ok is not None:
        regular &= src.block_ok[tl]
        tl[~regular] = 0
    ox, oy = 1.0 - rx, 1.0 - ry
    if src.ok is not None:
        weights = (rx * ry, ox * ry, rx * oy, ox * oy)
        total = weights[0] + weights[1]
        total += weights[2]
        total += weights[3]
    values = np.empty((len(src.bands), *sx.shape), dtype=np.float64)
    if h > 1 and w > 1:  # (a source one pixel wide or high has no whole 2x2 block)
        for acc, v in zip(values, src.bands, strict=True):
            # shifted views gather the right and lower neighbours without index arithmetic
            block = (v[tl], v[1:][tl], v[w:][tl], v[w + 1 :][tl])
            if src.ok is None:  # (ul*rx + ur*ox)*ry + (ll*rx + lr*ox)*oy
                np.multiply(block[0], rx, out=acc)
                acc += block[1] * ox
                acc *= ry
                lower = block[2] * rx
                lower += block[3] * ox
                lower *= oy
                acc += lower
            else:  # ul*w_ul + ur*w_ur + ll*w_ll + lr*w_lr, over the sum of the weights
                np.multiply(block[0], weights[0], out=acc)
                for value, weight in zip(block[1:], weights[1:], strict=True):
                    acc += value * weight
                acc /= total
    (special,) = np.nonzero((mask & ~regular).reshape(-1))
    if len(special):
        pick = (v.reshape(-1)[special] for v in (x0, y0, rx, ry))
        sv, smask = _bilinear_edges(src, *pick)
        values.reshape(len(values), -1)[:, special] = sv
        mask.reshape(-1)[special] = smask
    if out.dtype.kind in "iu":  # round half up; a weighted mean stays in the type's range
        values += 0.5
        np.floor(values, out=values)
    np.copyto(values, fill, where=~mask)
    if np.can_cast(src.bands.dtype, out.dtype, "safe"):  # a weighted mean stays in range
        out[...] = values
    else:
        convert(values, out.dtype, out=out)


def _bilinear_edges(
    src: _Source, x0: np.ndarray, y0: np.ndarray, rx: np.ndarray, ry: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear over the valid, in-image pixels of each block only (GDAL's general case).

    With a validity mask GDAL first moves a block hanging off the left/top edge onto the
    image with full weight on its first column/row, and sums upper-left, upper-right,
    lower-left, lower-right; without one it sums upper-left, upper-right, lower-right,
    lower-left. The weights' sum must reach `_MIN_WEIGHT`.
    """
    h, w = src.shape
    if src.ok is not None:
        rx = np.where(x0 == -1, 1.0, rx)
        ry = np.where(y0 == -1, 1.0, ry)
        x0 = np.maximum(x0, 0)
        y0 = np.maximum(y0, 0)
        order = ((0, 0), (1, 0), (0, 1), (1, 1))
    else:
        order = ((0, 0), (1, 0), (1, 1), (0, 1))
    xi, yi = x0.astype(np.intp), y0.astype(np.intp)
    total = np.zeros((len(src.bands), len(xi)))
    weight = np.zeros(len(xi))
    for dx, dy in order:
        x, y = xi + dx, yi + dy
        ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        idx = np.where(ok, y * w + x, 0)
        if src.ok is not None:
            ok &= src.ok[idx]
        wk = np.where(ok, (1.0 - rx if dx else rx) * (1.0 - ry if dy else ry), 0.0)
        weight += wk
        total += np.where(ok, src.bands[:, idx], 0) * wk
    mask = weight >= _MIN_WEIGHT
    return total / np.where(mask, weight, 1.0), mask


__all__ = [
    "Sampling",
    "warp",
]
