"""Layouts no common writer produces, built byte by byte and read by cogdex and GDAL."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import imagecodecs
import numpy as np
import pyproj
import pytest
import rasterio

import cogdex
from cogdex.tiff import tags as T

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

_FORMATS = {1: "B", 2: "s", 3: "H", 4: "I", 12: "d"}


def tiff(entries: dict[int, tuple[int, list[int | float] | bytes]], strips: list[bytes]) -> bytes:
    """A little-endian classic TIFF: one IFD with `entries` ({tag: (type, values)}) plus
    StripOffsets/StripByteCounts for `strips`, values and strips placed after the IFD."""
    entries = dict(entries)
    entries[T.STRIP_BYTE_COUNTS] = (4, [len(s) for s in strips])
    entries[T.STRIP_OFFSETS] = (4, [0] * len(strips))  # patched below
    n = len(entries)
    ifd_size = 2 + 12 * n + 4
    out_of_line = bytearray()
    base = 8 + ifd_size

    def encode(ftype: int, values: list[int | float] | bytes) -> tuple[int, bytes]:
        if ftype == 2:
            assert isinstance(values, bytes)
            return len(values), values
        assert isinstance(values, list)
        return len(values), struct.pack(f"<{len(values)}{_FORMATS[ftype]}", *values)

    sizes = {tag: encode(*value) for tag, value in entries.items()}
    positions = {}
    for tag, (_, blob) in sizes.items():
        if len(blob) > 4:
            positions[tag] = base + len(out_of_line)
            out_of_line += blob + b"\0" * (len(blob) % 2)
    data_start = base + len(out_of_line)
    starts, at = [], data_start
    for s in strips:
        starts.append(at)
        at += len(s)
    entries[T.STRIP_OFFSETS] = (4, starts)
    count, blob = encode(*entries[T.STRIP_OFFSETS])
    if T.STRIP_OFFSETS in positions:
        p = positions[T.STRIP_OFFSETS] - base
        out_of_line[p : p + len(blob)] = blob
    sizes[T.STRIP_OFFSETS] = (count, blob)
    ifd = bytearray(struct.pack("<H", n))
    for tag in sorted(entries):
        ftype = entries[tag][0]
        count, blob = sizes[tag]
        value = struct.pack("<I", positions[tag]) if tag in positions else blob.ljust(4, b"\0")
        ifd += struct.pack("<HHI", tag, ftype, count) + value
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + bytes(ifd) + bytes(out_of_line) + b"".join(strips)


def _compare_with_gdal(data: bytes, path: Path) -> np.ndarray:
    path.write_bytes(data)
    ours = cogdex.open(path).read()
    with rasterio.open(path) as ds:
        gdal = ds.read()
    assert ours.dtype == gdal.dtype
    assert np.array_equal(ours, gdal)
    return ours


def _basic(width: int, height: int, bits: int, rows: int, **extra: int) -> dict:
    entries = {
        T.IMAGE_WIDTH: (4, [width]),
        T.IMAGE_LENGTH: (4, [height]),
        T.BITS_PER_SAMPLE: (3, [bits]),
        T.COMPRESSION: (3, [1]),
        T.PHOTOMETRIC: (3, [1]),
        T.ROWS_PER_STRIP: (4, [rows]),
    }
    entries.update({tag: (3, [value]) for tag, value in extra.items()})
    return entries


@pytest.mark.parametrize("fill_order", [1, 2])
def test_one_bit_strips_in_both_fill_orders(fill_order: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(fill_order)
    image = rng.integers(0, 2, (37, 53)).astype(np.uint8)
    strips = []
    for row in range(0, 37, 10):
        packed = np.packbits(image[row : row + 10], axis=-1).tobytes()
        strips.append(imagecodecs.bitorder_encode(packed) if fill_order == 2 else packed)
    entries = _basic(53, 37, 1, 10)
    entries[T.FILL_ORDER] = (3, [fill_order])
    ours = _compare_with_gdal(tiff(entries, strips), tmp_path / "bits.tif")
    assert np.array_equal(ours[0], image)


@pytest.mark.parametrize("bits", [2, 6, 10, 24])
def test_odd_unsigned_bit_depths(bits: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(bits)
    image = rng.integers(0, 2**bits, (9, 13)).astype(np.uint32)
    bitstream = "".join(
        "".join(format(int(v), f"0{bits}b") for v in row).ljust(-(-13 * bits // 8) * 8, "0")
        for row in image
    )
    strip = int(bitstream, 2).to_bytes(len(bitstream) // 8, "big")
    ours = _compare_with_gdal(tiff(_basic(13, 9, bits, 9), [strip]), tmp_path / "odd.tif")
    assert np.array_equal(ours[0], image)


_GRADS = [(1024, 2), (1025, 1), (2048, 32767), (2050, 6326), (2054, 9105)]
_GEOCENTRIC = [(1024, 3), (1025, 1), (2048, 4326), (3076, 9001)]
_LOCAL = [(1024, 32767), (1025, 1), (1026, "my local grid"), (3076, 9002)]
_UTM_FEET = [(1024, 1), (1025, 1), (3072, 32633), (3076, 9002)]
_UTM_BY_CONVERSION = [(1024, 1), (1025, 1), (2048, 4326), (3072, 32767), (3074, 16031)]


def _geotiff(keys: list[tuple[int, int | str]], path: Path) -> Path:
    """A 4x3 GeoTIFF with these GeoKeys (ints in the directory, strs as ASCII params)."""
    directory = [1, 1, 0, len(keys)]
    ascii_params = ""
    for key, value in keys:
        if isinstance(value, str):
            directory += [key, T.GEO_ASCII_PARAMS, len(value) + 1, len(ascii_params)]
            ascii_params += value + "|"
        else:
            directory += [key, 0, 1, value]
    entries = _basic(4, 3, 8, 3)
    entries[T.GEO_KEY_DIRECTORY] = (3, directory)
    if ascii_params:
        entries[T.GEO_ASCII_PARAMS] = (2, ascii_params.encode() + b"\0")
    entries[T.MODEL_PIXEL_SCALE] = (12, [0.5, 0.5, 0.0])
    entries[T.MODEL_TIEPOINT] = (12, [0.0, 0.0, 0.0, 10.0, 50.0, 0.0])
    path.write_bytes(tiff(entries, [bytes(range(12))]))
    return path


@pytest.mark.parametrize(
    ("keys", "epsg", "word"),
    [
        (_GRADS, None, "grad"),
        (_GEOCENTRIC, 4978, "geocentricZ"),  # identified, as GDAL does
        (_LOCAL, None, "my local grid"),
        (_UTM_FEET, None, "foot"),
        (_UTM_BY_CONVERSION, 32631, "UTM zone 31N"),
    ],
    ids=["grads", "geocentric", "local", "utm-feet", "utm-by-conversion"],
)
def test_geokey_variants_give_gdals_crs(
    keys: list[tuple[int, int | str]], epsg: int | None, word: str, tmp_path: Path
) -> None:
    path = _geotiff(keys, tmp_path / "keys.tif")
    tif = cogdex.open(path)
    with rasterio.open(path) as ds:
        gdal = pyproj.CRS(ds.crs.to_wkt(version="WKT2_2019"))
        assert tif.transform == tuple(ds.transform)[:6]
        assert ds.crs.to_epsg() == epsg
    assert tif.epsg == epsg
    assert tif.crs.equals(gdal), f"{tif.crs.to_wkt()}\n!=\n{gdal.to_wkt()}"
    assert word in tif.crs.to_wkt()


@pytest.mark.parametrize(
    ("compression", "encode"), [(8, imagecodecs.zlib_encode), (5, imagecodecs.lzw_encode)]
)
def test_strips_that_decode_to_more_rows_than_they_hold(
    compression: int, encode: Callable[[bytes], bytes], tmp_path: Path
) -> None:
    """Some writers compress whole blocks past the image's last row; readers keep the rows
    the strip holds (the decoder's own buffer is too small, so it falls back to a growing one)."""
    image = np.arange(16 * 8, dtype=np.uint16).reshape(8, 16) * 7
    padded = np.vstack([image, np.full((4, 16), 9, np.uint16)])
    diffs = np.diff(padded.astype(np.int32), axis=1, prepend=0).astype(np.uint16)
    strips = [encode(diffs[0:6].tobytes()), encode(diffs[4:12].tobytes())]  # 2 and 4 rows extra
    entries = _basic(16, 8, 16, 4)
    entries[T.COMPRESSION] = (3, [compression])
    entries[T.PREDICTOR] = (3, [2])
    ours = _compare_with_gdal(tiff(entries, strips), tmp_path / "long.tif")
    assert np.array_equal(ours[0], image)
