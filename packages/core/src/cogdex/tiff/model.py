"""The parsed header as plain values: what the index stores and the reader plans from.

A `TIFFHeader` holds everything needed to read pixels without touching the file's header
again: one `Level` per image (full resolution first, then overviews largest to smallest,
each with its internal mask level if any), and the georeferencing and GDAL metadata of the
file. Values are frozen dataclasses of Python scalars, strings, tuples and numpy arrays (tile
offsets and byte counts): picklable, cheap to copy between processes, and `to_dict()` gives
a JSON-safe form (except those arrays) that the index maps to Arrow columns.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import numpy as np

from cogdex.tiff import tags as T

ByteOrder = Literal["<", ">"]  # a file's byte order as numpy and struct spell it: II, MM

HEADER_VERSION = 1
"""Bumped when the meaning or the set of fields changes (stored indexes record it); not for
a field whose absence reads as None and means "unknown" (`etag`, `last_modified`), which
older headers load without."""


@dataclass(frozen=True, slots=True, eq=False)
class Level:
    """One image of the file (an IFD): its size, tiling, and how each tile is encoded.

    Strips are tiles as wide as the image (`tiled` False), so one code path reads both.
    `tile_offsets` and `tile_byte_counts` (uint64) list the tiles row by row, plane after
    plane when `planar` is 2; a tile with offset or byte count 0 is sparse (reads as the
    fill value). `dtype` is the numpy type of decoded samples in native byte order (uint8
    for 8-bit CMYK, which is read as RGBA as GDAL does). `photometric` is MinIsBlack for a
    separated image whose InkSet is not CMYK: GDAL reads its samples as plain bands.
    """

    width: int
    height: int
    tile_width: int
    tile_height: int
    tiled: bool
    tile_offsets: np.ndarray
    tile_byte_counts: np.ndarray
    compression: int
    predictor: int
    bits_per_sample: int
    sample_format: int
    samples_per_pixel: int
    planar: int
    photometric: int
    dtype: str
    subfile_type: int = 0
    jpeg_tables: bytes | None = None
    ycbcr_subsampling: tuple[int, int] = (2, 2)
    extra_samples: tuple[int, ...] = ()
    lerc_parameters: tuple[int, ...] = ()
    fill_order: int = 1
    ifd_offset: int = 0
    mask: Level | None = None

    @property
    def tiles_across(self) -> int:
        return -(-self.width // self.tile_width)

    @property
    def tiles_down(self) -> int:
        return -(-self.height // self.tile_height)

    @property
    def planes(self) -> int:
        """Tile planes: one per sample when planar is 2 (separate), else one."""
        return self.samples_per_pixel if self.planar == 2 else 1

    @property
    def compression_name(self) -> str:
        """The compression as GDAL names it (COMPRESSION in the IMAGE_STRUCTURE domain)."""
        if self.compression == T.LERC and len(self.lerc_parameters) > 1:
            return T.LERC_NAMES.get(self.lerc_parameters[1], "LERC")
        name = T.COMPRESSION_NAMES.get(self.compression, str(self.compression))
        if self.compression == T.JPEG and self.photometric == T.PHOTOMETRIC_YCBCR:
            return "YCbCr JPEG"
        return name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "mask":
                value = None if value is None else value.to_dict()
            elif f.name == "jpeg_tables":
                value = None if value is None else base64.b64encode(value).decode("ascii")
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Level:
        kw = dict(d)
        kw["tile_offsets"] = np.asarray(kw["tile_offsets"], dtype=np.uint64)
        kw["tile_byte_counts"] = np.asarray(kw["tile_byte_counts"], dtype=np.uint64)
        tables = kw.get("jpeg_tables")
        kw["jpeg_tables"] = None if tables is None else base64.b64decode(tables)
        for name in ("ycbcr_subsampling", "extra_samples", "lerc_parameters"):
            if name in kw:
                kw[name] = tuple(kw[name])
        mask = kw.get("mask")
        kw["mask"] = None if mask is None else cls.from_dict(mask)
        return cls(**kw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # holds arrays


@dataclass(frozen=True, slots=True, eq=False)
class Georeference:
    """Where the pixels are, as GDAL reports it.

    `crs` is an EPSG code when the file names one unchanged, else a PROJJSON string built
    from the GeoKeys (a `pyproj.CRS` accepts either); None when the file has no CRS or PROJ
    rejects it. `transform` is the affine (a, b, c, d, e, f) from pixel (col, row) to CRS
    coordinates of pixel corners, with GDAL's half-pixel shift already applied to
    PixelIsPoint files; None when the file has no geotransform (e.g. only GCPs).
    `gcps` are (col, row, x, y, z) tie points when there is no geotransform.
    """

    crs: int | str | None = None
    transform: tuple[float, float, float, float, float, float] | None = None
    pixel_is_point: bool = False
    gcps: tuple[tuple[float, float, float, float, float], ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class TIFFHeader:
    """Everything cogdex knows about one TIFF after reading its header.

    `levels[0]` is full resolution, `levels[1:]` the overviews from largest to smallest.
    `nodata` is GDAL_NODATA parsed as a float (NaN allowed). Per-band tuples (descriptions,
    scales, offsets, units, band_metadata) have one entry per sample of `levels[0]` (None or
    {} where a band has none), or are empty when no band has any.
    `metadata` holds GDAL_METADATA's dataset items of the default domain.
    `size`, `etag` and `last_modified` identify the version of the object the header was
    read from (as the store answered the header's GET; None where it gave none): every
    later GET of its tiles must come from that version (`cogdex.io.fetch.read_ranges`).
    """

    size: int
    byte_order: ByteOrder
    bigtiff: bool
    levels: tuple[Level, ...]
    georef: Georeference = field(default_factory=Georeference)
    nodata: float | None = None
    descriptions: tuple[str | None, ...] = ()
    scales: tuple[float | None, ...] = ()
    offsets: tuple[float | None, ...] = ()
    units: tuple[str | None, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    band_metadata: tuple[dict[str, str], ...] = ()
    etag: str | None = None
    last_modified: datetime | None = None

    @property
    def base(self) -> Level:
        return self.levels[0]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict: JSON-safe except the uint64 tile arrays (NaN/inf as strings)."""
        g = self.georef
        return {
            "version": HEADER_VERSION,
            "size": self.size,
            "byte_order": self.byte_order,
            "bigtiff": self.bigtiff,
            "levels": [lv.to_dict() for lv in self.levels],
            "crs": g.crs,
            "transform": None if g.transform is None else list(g.transform),
            "pixel_is_point": g.pixel_is_point,
            "gcps": [list(p) for p in g.gcps],
            "nodata": _float_out(self.nodata),
            "descriptions": list(self.descriptions),
            "scales": [_float_out(v) for v in self.scales],
            "offsets": [_float_out(v) for v in self.offsets],
            "units": list(self.units),
            "metadata": dict(self.metadata),
            "band_metadata": [dict(m) for m in self.band_metadata],
            "etag": self.etag,
            "last_modified": None if self.last_modified is None else self.last_modified.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TIFFHeader:
        version = d.get("version", HEADER_VERSION)
        if version != HEADER_VERSION:
            raise ValueError(f"header version {version} is not {HEADER_VERSION}")
        transform = d.get("transform")
        modified = d.get("last_modified")
        return cls(
            size=int(d["size"]),
            byte_order=d["byte_order"],
            bigtiff=bool(d["bigtiff"]),
            levels=tuple(Level.from_dict(lv) for lv in d["levels"]),
            georef=Georeference(
                crs=d.get("crs"),
                transform=None if transform is None else tuple(float(v) for v in transform),  # type: ignore[arg-type]
                pixel_is_point=bool(d.get("pixel_is_point", False)),
                gcps=tuple(tuple(float(v) for v in p) for p in d.get("gcps", ())),  # type: ignore[misc]
            ),
            nodata=_float_in(d.get("nodata")),
            descriptions=tuple(d.get("descriptions", ())),
            scales=tuple(_float_in(v) for v in d.get("scales", ())),
            offsets=tuple(_float_in(v) for v in d.get("offsets", ())),
            units=tuple(d.get("units", ())),
            metadata=dict(d.get("metadata", {})),
            band_metadata=tuple(dict(m) for m in d.get("band_metadata", ())),
            etag=d.get("etag"),
            last_modified=None if modified is None else datetime.fromisoformat(modified),
        )

    def __eq__(self, other: object) -> bool:
        """What the headers say of their files; not which version of an object each was
        read from (`etag`, `last_modified`: two servers of one file give two ETags)."""
        if not isinstance(other, TIFFHeader):
            return NotImplemented
        a, b = self.to_dict(), other.to_dict()
        for d in (a, b):
            del d["levels"], d["etag"], d["last_modified"]  # levels: by Level.__eq__
        return a == b and self.levels == other.levels

    __hash__ = None  # type: ignore[assignment]


def _float_out(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _float_in(value: float | str | None) -> float | None:
    return None if value is None else float(value)


__all__ = [
    "HEADER_VERSION",
    "Georeference",
    "Level",
    "TIFFHeader",
]
