"""Decoded tiles -> one window array: allocation with the fill value, and pasting tiles.

Tiles arrive as (rows, tile_width, samples) arrays, the shape the TIFF decoders produce;
the window is (bands, height, width). Pasting clips each tile to the image (edge tiles carry
padding that must not land in the window) and to the window, and writes only its own
region, so tiles of one window can be pasted from several threads at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cogdex.read.window import Window


def fill_value(nodata: float | None, dtype: np.dtype) -> float:
    """The value of pixels with no data: nodata as GDAL would store it in `dtype`, else 0.

    Integer types round nodata half away from zero and clamp it into their range (NaN
    becomes 0), as GDAL's copy does.
    """
    if nodata is None:
        return 0
    if dtype.kind in "iu":
        if math.isnan(nodata):
            return 0
        info = np.iinfo(dtype)
        rounded = math.copysign(math.floor(abs(nodata) + 0.5), nodata)
        return int(min(max(rounded, info.min), info.max))
    return nodata


def convert(values: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """`values` in `dtype` as GDAL's copy converts them (a read with another output type):
    to integers rounded half away from zero and saturated at the type's range, NaN to 0.
    numpy's own cast would wrap (uint16 300 -> uint8 44) and truncate (2.7 -> 2) silently.
    Written into `out` when given (its dtype is `dtype`)."""
    dtype = np.dtype(dtype)
    if out is None:
        out = np.empty(values.shape, dtype)
    if dtype.kind not in "iu" or np.can_cast(values.dtype, dtype, "safe"):
        out[...] = values
        return out
    info = np.iinfo(dtype)
    if values.dtype.kind in "iu":  # saturate, with bounds the source type can hold
        src = np.iinfo(values.dtype)
        lo, hi = max(info.min, src.min), min(info.max, src.max)
        np.clip(values, values.dtype.type(lo), values.dtype.type(hi), out=out, casting="unsafe")
        return out
    real = values.real if values.dtype.kind == "c" else values  # GDAL keeps the real part
    rounded = np.asarray(real, dtype=np.float64)
    rounded = np.trunc(rounded + np.copysign(0.5, rounded))
    np.clip(rounded, info.min, info.max, out=rounded)
    rounded[np.isnan(rounded)] = 0
    with np.errstate(invalid="ignore"):  # 64-bit maxima round up to 2**63 / 2**64 as floats
        out[...] = rounded
    if dtype.itemsize == 8:
        np.copyto(out, info.max, where=rounded >= float(info.max))
    return out


def allocate(
    bands: int, height: int, width: int, dtype: np.dtype, fill: int | float | complex
) -> np.ndarray:
    """A (bands, height, width) array filled with `fill`."""
    return np.full((bands, height, width), fill, dtype=dtype)


def paste(
    out: np.ndarray,
    tile: np.ndarray,
    *,
    window: Window,
    origin: tuple[int, int],
    image: tuple[int, int],
    samples: Sequence[int],
    targets: Sequence[int],
) -> None:
    """Copy `tile` into `out`, the array of `window`.

    `origin` is the (row, col) of the tile's first pixel in the image, `image` the image's
    (width, height); `samples[i]` is the tile sample that goes to band `targets[i]` of out.
    """
    col_off, row_off, width, height = window
    tile_row, tile_col = origin
    r0 = max(tile_row, row_off, 0)
    c0 = max(tile_col, col_off, 0)
    r1 = min(tile_row + tile.shape[0], row_off + height, image[1])
    c1 = min(tile_col + tile.shape[1], col_off + width, image[0])
    if r1 <= r0 or c1 <= c0:
        return
    src = tile[r0 - tile_row : r1 - tile_row, c0 - tile_col : c1 - tile_col]
    dst_rows = slice(r0 - row_off, r1 - row_off)
    dst_cols = slice(c0 - col_off, c1 - col_off)
    n = len(samples)
    if n == src.shape[2] and list(samples) == list(range(n)):
        first = targets[0]
        if list(targets) == list(range(first, first + n)):
            out[first : first + n, dst_rows, dst_cols] = src.transpose(2, 0, 1)
            return
    for sample, target in zip(samples, targets, strict=True):
        out[target, dst_rows, dst_cols] = src[:, :, sample]


def paint(
    out: np.ndarray,
    value: float,
    *,
    window: Window,
    origin: tuple[int, int],
    shape: tuple[int, int],
    image: tuple[int, int],
    targets: Sequence[int],
) -> None:
    """Set the part of a (rows, cols) `shape` tile at `origin` that lies in the image and in
    `window` to `value`, in bands `targets` of `out` (a sparse tile: no bytes to paste)."""
    col_off, row_off, width, height = window
    tile_row, tile_col = origin
    r0 = max(tile_row, row_off, 0)
    c0 = max(tile_col, col_off, 0)
    r1 = min(tile_row + shape[0], row_off + height, image[1])
    c1 = min(tile_col + shape[1], col_off + width, image[0])
    if r1 > r0 and c1 > c0:
        out[list(targets), r0 - row_off : r1 - row_off, c0 - col_off : c1 - col_off] = value


__all__ = [
    "allocate",
    "convert",
    "fill_value",
    "paint",
    "paste",
]
