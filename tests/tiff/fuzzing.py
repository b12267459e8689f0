"""Mutated real TIFFs and the property every one of them must satisfy (tests and script).

Seeds are small GeoTIFFs written by GDAL (rasterio) across layouts. A mutation rewrites
bytes of the header region (file header, IFDs, tag arrays: everything before the first tile)
with random or boundary values, truncates the file, or corrupts tile data. The property:
opening and reading a few windows of every level and mask either works or raises a
`cogdex.TIFFError` subclass that names the file; nothing else escapes, nothing hangs, and
parsing allocates no more than a small multiple of the file size.
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np

from cogdex.errors import TIFFError
from cogdex.tiff.geotiff import GeoTIFF
from cogdex.tiff.header import parse_header

# Values that break arithmetic and bounds checks when written over a count or an offset.
BOUNDARY = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63)


def write_seeds(folder: Path) -> list[Path]:
    """Small GeoTIFFs covering the layouts the parser branches on."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    base = {
        "driver": "GTiff",
        "width": 70,
        "height": 50,
        "transform": from_origin(500_000, 5_200_000, 10, 10),
        "crs": "EPSG:32633",
    }
    variants = {
        "tiled-deflate-ovr-mask.tif": dict(
            count=3, dtype="uint8", tiled=True, blockxsize=32, blockysize=32, compress="deflate"
        ),
        "strip-lzw-pred2-be.tif": dict(
            count=2, dtype="uint16", compress="lzw", predictor=2, endianness="big", blockysize=9
        ),
        "bigtiff-jpeg-ycbcr.tif": dict(
            count=3,
            dtype="uint8",
            tiled=True,
            blockxsize=32,
            blockysize=32,
            compress="jpeg",
            photometric="ycbcr",
            bigtiff="yes",
        ),
        "separate-float-pred3-nodata.tif": dict(
            count=2,
            dtype="float32",
            tiled=True,
            blockxsize=32,
            blockysize=32,
            compress="zstd",
            predictor=3,
            interleave="band",
            nodata=-9999.0,
            crs="+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +ellps=GRS80",
        ),
        "lerc-int16-tags.tif": dict(
            count=1, dtype="int16", tiled=True, blockxsize=32, blockysize=32, compress="lerc"
        ),
    }
    paths = []
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        for name, opts in variants.items():
            profile = {**base, **opts}
            path = folder / name
            count, dtype = profile["count"], np.dtype(profile["dtype"])
            data = (rng.normal(100, 40, (count, 50, 70))).clip(0, 250).astype(dtype)
            with rasterio.open(path, "w", **profile) as ds:
                ds.write(data)
                if name.startswith("tiled-deflate"):
                    mask = np.full((50, 70), 255, np.uint8)
                    mask[5:20, 10:40] = 0
                    ds.write_mask(mask)
                    ds.build_overviews([2], Resampling.nearest)
                if name.startswith("lerc"):
                    ds.set_band_description(1, "height")
                    ds.update_tags(1, STATISTICS_MEAN="1.5")
                    ds.scales = (0.25,)
            paths.append(path)
    return paths


class Seed:
    """A seed file: its bytes and where its header region ends (the first tile's offset)."""

    def __init__(self, path: Path, data: bytes, header_end: int):
        self.path = path
        self.data = data
        self.header_end = header_end

    def __repr__(self) -> str:
        return f"Seed({self.path.name})"


def load_seed(path: Path) -> Seed:
    data = path.read_bytes()
    header = parse_header(data)
    offsets = [lv.tile_offsets for lv in header.levels] + [
        lv.mask.tile_offsets for lv in header.levels if lv.mask is not None
    ]
    first_tile = int(min(int(o[o > 0].min()) for o in offsets if (o > 0).any()))
    return Seed(path, data, first_tile)


def mutate(seed: Seed, edits: list[tuple[int, int, int]], truncate: int | None) -> bytes:
    """Apply (kind, position, value) edits: kind 0 = one byte, 1 = a 16-bit word, 2 = a
    32-bit word, 3 = a 64-bit word (little-endian, values taken modulo the width)."""
    data = bytearray(seed.data)
    for kind, position, value in edits:
        width = (1, 2, 4, 8)[kind]
        pos = position % max(len(data) - width, 1)
        data[pos : pos + width] = struct.pack("<Q", value % 2**64)[:width]
    if truncate is not None:
        del data[truncate % (len(data) + 1) :]
    return bytes(data)


def check(data: bytes, scratch: Path) -> str:
    """Open and read `data` as cogdex would; return what happened ("ok" or the error type).

    Raises AssertionError if anything but a TIFFError escapes, an error does not name the
    file, or parsing allocates more than the file could justify.
    """
    source = str(scratch)
    try:
        header = parse_header(data, source=source)
    except TIFFError as exc:
        _names_file(exc, source)
        return type(exc).__name__
    peak = _parse_peak(data, source)
    assert peak <= 64 * len(data) + (1 << 20), f"parse allocated {peak} bytes for {len(data)}"
    scratch.write_bytes(data)
    tif = GeoTIFF(scratch, header)
    outcome = "ok"
    for overview in [None, *range(min(len(tif.overviews), 2))]:
        for window in ((0, 0, 24, 24), (40, 30, 40, 40)):
            try:
                tif.read(window=window, overview=overview)
                if tif.has_mask and (overview is None or tif.header.levels[overview + 1].mask):
                    tif.read_mask(window=window, overview=overview)
            except TIFFError as exc:
                _names_file(exc, source)
                outcome = type(exc).__name__
    return outcome


def _parse_peak(data: bytes, source: str) -> int:
    """Peak Python/numpy allocation of parsing `data` (after a first parse has imported and
    cached what any header needs, so only what this input costs is counted)."""
    tracemalloc.start()
    try:
        parse_header(data, source=source)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _names_file(error: TIFFError, source: str) -> None:
    if error.source != source:
        raise AssertionError(f"{type(error).__name__} does not name {source}: {error}")
