"""`write_cog`: a small cloud-optimized GeoTIFF writer (numpy + imagecodecs, no GDAL).

Tests, plugins and demos need real COGs without GDAL; tifffile writes each IFD next to its
data, which is not the COG layout. This writes one array as a classic little-endian TIFF
laid out as the COG spec asks: every IFD (with its tile index) at the front, full
resolution first, then tile data from the smallest overview to full resolution. Tiles are
compressed (deflate or zstd; horizontal predictor for integers), overviews halve the size
until one tile holds the image, and the georeferencing is what GDAL writes for a north-up
grid: pixel scale + tiepoint, a GeoKey directory with the EPSG code, GDAL_NODATA.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import imagecodecs
import numpy as np

from cogdex.tiff import geokeys as K
from cogdex.tiff import tags as T

Compression = Literal["deflate", "zstd", "none"]
Resampling = Literal["average", "nearest"]
Encoded = bytes | bytearray | memoryview  # what imagecodecs' encoders return

_CODECS: dict[str, tuple[int, Callable[[np.ndarray], Encoded]]] = {
    "deflate": (T.ADOBE_DEFLATE, lambda tile: imagecodecs.deflate_encode(tile, level=6)),
    "zstd": (T.ZSTD, lambda tile: imagecodecs.zstd_encode(tile, level=9)),
    "none": (T.NONE, lambda tile: tile.tobytes()),
}
_SAMPLE_FORMATS = {"u": T.SAMPLE_UINT, "i": T.SAMPLE_INT, "f": T.SAMPLE_FLOAT}
_SHORT, _LONG, _DOUBLE = 3, 4, 12
_CLASSIC_LIMIT = 2**32


@dataclass(frozen=True)
class _Entry:
    tag: int
    type: int
    values: bytes
    count: int


def _shorts(tag: int, *values: int) -> _Entry:
    return _Entry(tag, _SHORT, np.asarray(values, "<u2").tobytes(), len(values))


def _longs(tag: int, values: Sequence[int] | np.ndarray) -> _Entry:
    array = np.asarray(values, np.int64)
    if array.size and (array.min() < 0 or array.max() >= 2**32):
        raise ValueError(f"tag {tag}: value out of range for a TIFF LONG")
    return _Entry(tag, _LONG, array.astype("<u4").tobytes(), array.size)


def _doubles(tag: int, *values: float) -> _Entry:
    return _Entry(tag, _DOUBLE, np.asarray(values, "<f8").tobytes(), len(values))


def _ascii(tag: int, text: str) -> _Entry:
    data = text.encode("ascii") + b"\0"
    return _Entry(tag, T.ASCII, data, len(data))


def _ifd_size(entries: Sequence[_Entry]) -> int:
    """Bytes of an IFD plus its out-of-line values (each padded to an even offset)."""
    extra = sum(len(e.values) + len(e.values) % 2 for e in entries if len(e.values) > 4)
    return 2 + 12 * len(entries) + 4 + extra


def _pack_ifd(entries: Sequence[_Entry], at: int, next_ifd: int) -> bytes:
    entries = sorted(entries, key=lambda e: e.tag)
    head = [struct.pack("<H", len(entries))]
    values: list[bytes] = []
    value_at = at + 2 + 12 * len(entries) + 4
    for e in entries:
        if len(e.values) <= 4:
            head.append(struct.pack("<HHI", e.tag, e.type, e.count) + e.values.ljust(4, b"\0"))
            continue
        head.append(struct.pack("<HHII", e.tag, e.type, e.count, value_at))
        padded = e.values + b"\0" * (len(e.values) % 2)
        values.append(padded)
        value_at += len(padded)
    head.append(struct.pack("<I", next_ifd))
    return b"".join(head + values)


def _crs_keys(crs: int | str | object) -> list[int]:
    """GeoKeyDirectory (version 1.1.0) of a CRS that has an EPSG code."""
    import pyproj

    parsed = pyproj.CRS.from_user_input(crs)
    code = parsed.to_epsg()
    if code is None or code > 65535:
        raise ValueError(f"write_cog needs a CRS with an EPSG code, not {parsed.name!r}")
    if parsed.is_geographic:
        model, crs_key = K.MODEL_GEOGRAPHIC, K.GEOGRAPHIC_TYPE
    elif parsed.is_projected:
        model, crs_key = K.MODEL_PROJECTED, K.PROJECTED_CS_TYPE
    else:
        raise ValueError(f"write_cog writes geographic or projected CRSs, not {parsed.name!r}")
    keys = [(K.GT_MODEL_TYPE, model), (K.GT_RASTER_TYPE, 1), (crs_key, code)]  # 1: PixelIsArea
    directory = [1, 1, 0, len(keys)]
    for key, value in keys:
        directory += [key, 0, 1, value]
    return directory


def _downsample(level: np.ndarray, nodata: float | None, resampling: Resampling) -> np.ndarray:
    """Half the size (rounded up) of a (bands, rows, cols) array; nodata stays out of means."""
    if resampling == "nearest":
        return level[:, ::2, ::2]
    bands, rows, cols = level.shape
    pad = ((0, 0), (0, rows % 2), (0, cols % 2))
    values = np.pad(level.astype(np.float64), pad, constant_values=np.nan)
    invalid = np.isnan(values)
    if nodata is not None and not np.isnan(nodata):
        invalid |= values == nodata
    values[invalid] = 0.0
    shape = (bands, values.shape[1] // 2, 2, values.shape[2] // 2, 2)
    total = values.reshape(shape).sum(axis=(2, 4))
    count = (~invalid).reshape(shape).sum(axis=(2, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    if level.dtype.kind in "ui":
        mean = np.rint(mean)
    empty = np.nan if nodata is None else nodata
    return np.where(count > 0, mean, empty).astype(level.dtype)


def _tiles(
    level: np.ndarray, size: int, fill: float, encode: Callable[[np.ndarray], Encoded], diff: bool
) -> list[Encoded]:
    """Encoded tiles of a (bands, rows, cols) level in row-major order, edges padded."""
    bands, rows, cols = level.shape
    ny, nx = -(-rows // size), -(-cols // size)
    pixels = np.full((ny * size, nx * size, bands), fill, level.dtype)
    pixels[:rows, :cols] = level.transpose(1, 2, 0)
    out = []
    for r in range(ny):
        for c in range(nx):
            tile = pixels[r * size : (r + 1) * size, c * size : (c + 1) * size]
            if diff:  # TIFF predictor 2: differences along each row, wrapping like libtiff
                tile = np.diff(tile, axis=1, prepend=np.zeros_like(tile[:, :1]))
            out.append(encode(np.ascontiguousarray(tile)))
    return out


def write_cog(
    path: str | os.PathLike[str],
    array: np.ndarray,
    crs: int | str | object,
    transform: Sequence[float],
    nodata: float | None = None,
    *,
    tile_size: int = 512,
    compression: Compression = "deflate",
    overview_resampling: Resampling = "average",
) -> Path:
    """Write `array` ((bands, rows, cols) or (rows, cols)) as a cloud-optimized GeoTIFF.

    `crs`: anything pyproj reads that has an EPSG code (4326, "EPSG:32643", a pyproj CRS).
    `transform`: the north-up affine (a, b, c, d, e, f) as rasterio's `Affine` and GDAL
    order it: x = a * col + c, y = e * row + f, with b = d = 0 and e < 0. `nodata` is
    written as GDAL_NODATA, pads edge tiles and stays out of "average" overviews.
    Compressed integer data get predictor 2. Returns the path. Classic TIFF only (< 4 GiB).
    """
    data = np.asarray(array)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or 0 in data.shape:
        raise ValueError(f"array must be (bands, rows, cols) or (rows, cols), got {data.shape}")
    if data.dtype.kind not in _SAMPLE_FORMATS or data.dtype.itemsize > 8:
        raise ValueError(f"write_cog writes integer and float arrays, not {data.dtype}")
    data = data.astype(data.dtype.newbyteorder("<"), copy=False)
    if tile_size <= 0 or tile_size % 16:
        raise ValueError(f"tile_size must be a positive multiple of 16, not {tile_size}")
    if compression not in _CODECS:
        raise ValueError(f"compression must be one of {', '.join(_CODECS)}, not {compression!r}")
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    if b or d or a <= 0 or e >= 0:
        raise ValueError("write_cog writes north-up grids: transform (a, 0, c, 0, e, f), a > 0 > e")
    geo_keys = _crs_keys(crs)
    code, encode = _CODECS[compression]
    diff = data.dtype.kind in "ui" and compression != "none"
    nodata_text = None if nodata is None else _nodata_text(nodata, data.dtype)
    fill = 0 if nodata is None else nodata

    levels = [data]
    while max(levels[-1].shape[1:]) > tile_size:
        levels.append(_downsample(levels[-1], nodata, overview_resampling))
    tiles = [_tiles(level, tile_size, fill, encode, diff) for level in levels]

    bands = data.shape[0]
    common = [
        _shorts(T.BITS_PER_SAMPLE, *[data.dtype.itemsize * 8] * bands),
        _shorts(T.COMPRESSION, code),
        _shorts(T.PHOTOMETRIC, T.PHOTOMETRIC_MINISBLACK),
        _shorts(T.SAMPLES_PER_PIXEL, bands),
        _shorts(T.PLANAR_CONFIG, 1),
        _shorts(T.TILE_WIDTH, tile_size),
        _shorts(T.TILE_LENGTH, tile_size),
        _shorts(T.SAMPLE_FORMAT, *[_SAMPLE_FORMATS[data.dtype.kind]] * bands),
    ]
    if diff:
        common.append(_shorts(T.PREDICTOR, T.PREDICTOR_HORIZONTAL))
    if bands > 1:
        common.append(_shorts(T.EXTRA_SAMPLES, *[0] * (bands - 1)))  # 0: unspecified
    if nodata_text is not None:
        common.append(_ascii(T.GDAL_NODATA, nodata_text))
    georef = [
        _doubles(T.MODEL_PIXEL_SCALE, a, -e, 0.0),
        _doubles(T.MODEL_TIEPOINT, 0.0, 0.0, 0.0, c, f, 0.0),
        _shorts(T.GEO_KEY_DIRECTORY, *geo_keys),
    ]

    def entries(i: int, offsets: Sequence[int]) -> list[_Entry]:
        level = levels[i]
        own = [
            _longs(T.NEW_SUBFILE_TYPE, [0 if i == 0 else T.SUBFILE_REDUCED]),
            _longs(T.IMAGE_WIDTH, [level.shape[2]]),
            _longs(T.IMAGE_LENGTH, [level.shape[1]]),
            _longs(T.TILE_OFFSETS, offsets),
            _longs(T.TILE_BYTE_COUNTS, [len(t) for t in tiles[i]]),
        ]
        return common + own + (georef if i == 0 else [])

    # IFD sizes do not depend on the offsets they hold: place IFDs, then data behind them.
    sizes = [_ifd_size(entries(i, [0] * len(t))) for i, t in enumerate(tiles)]
    ifd_at = list(np.cumsum([8, *sizes[:-1]]).tolist())
    position = 8 + sum(sizes)
    offsets: list[list[int]] = [[] for _ in levels]
    for i in reversed(range(len(levels))):  # smallest overview first, full resolution last
        for tile in tiles[i]:
            offsets[i].append(position)
            position += len(tile)
    if position >= _CLASSIC_LIMIT:
        raise ValueError(f"{position:,} bytes is over the classic TIFF limit of 4 GiB")

    out = Path(path)
    with out.open("wb") as fh:
        fh.write(b"II" + struct.pack("<HI", 42, 8))
        for i in range(len(levels)):
            next_ifd = ifd_at[i + 1] if i + 1 < len(levels) else 0
            fh.write(_pack_ifd(entries(i, offsets[i]), ifd_at[i], next_ifd))
        for i in reversed(range(len(levels))):
            fh.writelines(tiles[i])
    return out


def _nodata_text(nodata: float, dtype: np.dtype) -> str:
    """GDAL_NODATA as GDAL writes it: integers without a decimal point, "nan" for NaN."""
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        if np.isnan(nodata) or nodata != int(nodata) or not info.min <= nodata <= info.max:
            raise ValueError(f"nodata {nodata} is not a {dtype} value")
        return str(int(nodata))
    return "nan" if np.isnan(nodata) else repr(float(nodata))


__all__ = [
    "Compression",
    "Resampling",
    "write_cog",
]
