"""GDAL's private tags: GDAL_NODATA (ASCII number) and GDAL_METADATA (XML items)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

# C's isspace, as strtod skips it (Python's \s also takes \x1c-\x1f and Unicode spaces)
_SPACE = r"[ \t\n\v\f\r]*"
_NUMBER = re.compile(_SPACE + r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))")
_INTEGER = re.compile(_SPACE + r"([-+]?)(\d+)")


def parse_nodata(text: str) -> float:
    """GDAL_NODATA as GDAL reads it: "nan"/"inf" words, else the leading number."""
    word = text.strip().lower()
    if word in ("nan", "-nan", "+nan"):
        return math.nan
    if word in ("inf", "+inf", "infinity", "+infinity", "1.#inf"):
        return math.inf
    if word in ("-inf", "-infinity", "-1.#inf"):
        return -math.inf
    match = _NUMBER.match(text)
    return float(match.group(1)) if match else 0.0  # GDAL's CPLAtof yields 0 for junk


def band_nodata(text: str | None, dtype: str) -> float | None:
    """GDAL_NODATA as GDAL (rasterio) reports it for bands of `dtype`: None when the type
    cannot hold it, so it neither masks nor fills pixels it could never match."""
    if text is None:
        return None
    if dtype in ("int64", "uint64"):
        value = _nodata_64(text, dtype == "uint64")
    else:
        value = parse_nodata(text)
    kind = np.dtype(dtype).kind
    if kind not in "iuf":
        return value
    if kind == "f":
        return _float_nodata(value, np.finfo(dtype))
    info = np.iinfo(dtype)
    return value if info.min <= value <= info.max else None


def _float_nodata(value: float, info: np.finfo) -> float | None:
    """Float32 keeps GDAL's float32 rounding (overflowing to infinity); Float16 has no
    nodata beyond its range."""
    if not math.isfinite(value) or info.dtype == np.float64:
        return value
    if info.dtype == np.float16:
        return value if abs(value) <= float(info.max) else None
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def _nodata_64(text: str, unsigned: bool) -> float:
    """64-bit integer nodata is read as C's strtoll/strtoull read it: the leading integer
    (0 if none), saturated, and wrapped modulo 2**64 when negative for unsigned types."""
    match = _INTEGER.match(text)
    if match is None:
        return 0.0
    value = int(match.group(1) + match.group(2))
    if unsigned:
        magnitude = min(int(match.group(2)), (1 << 64) - 1)
        value = -magnitude % (1 << 64) if match.group(1) == "-" else magnitude
    else:
        value = min(max(value, -(1 << 63)), (1 << 63) - 1)
    return float(value)


@dataclass(frozen=True)
class GDALMetadata:
    """GDAL_METADATA split into what cogdex exposes."""

    dataset: dict[str, str] = field(default_factory=dict)
    bands: dict[int, dict[str, str]] = field(default_factory=dict)
    descriptions: dict[int, str] = field(default_factory=dict)
    scales: dict[int, float] = field(default_factory=dict)
    offsets: dict[int, float] = field(default_factory=dict)
    units: dict[int, str] = field(default_factory=dict)


def parse_gdal_metadata(text: str | None) -> GDALMetadata:
    """Items of the default domain; band roles (description, scale, offset, unit type).

    Malformed XML is ignored, as GDAL ignores it (with a warning).
    """
    meta = GDALMetadata()
    if not text:
        return meta
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return meta
    for item in root.iter("Item"):
        name = item.get("name")
        if name is None or item.get("domain"):
            continue
        value = _unescape(item.text or "")
        sample = item.get("sample")
        role = item.get("role")
        if sample is None:
            if role is None:
                meta.dataset[name] = value
            continue
        try:
            band = int(sample)
        except ValueError:
            continue
        if role == "description":
            meta.descriptions[band] = value
        elif role in ("scale", "offset"):
            number = _float(value)
            if number is not None:
                (meta.scales if role == "scale" else meta.offsets)[band] = number
        elif role == "unittype":
            meta.units[band] = value
        elif role is None:
            meta.bands.setdefault(band, {})[name] = value
    return meta


_ENTITY = re.compile(r"&(?:(lt|gt|amp|apos|quot);|#x([0-9a-f]*);|#([0-9]*);)", re.IGNORECASE)
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "apos": "'", "quot": '"'}


def _unescape(text: str) -> str:
    """GDAL escapes item values for XML before writing the XML (so twice), and after
    parsing unescapes them once more as CPLUnescapeString does: the five named entities
    (any case) and character references; the value ends at any other '&'."""
    if "&" not in text:
        return text
    out: list[str] = []
    pos = 0
    while (at := text.find("&", pos)) >= 0:
        out.append(text[pos:at])
        match = _ENTITY.match(text, at)
        if match is None:
            return "".join(out)
        out.append(_character(match))
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _character(match: re.Match[str]) -> str:
    named, hexadecimal, decimal = match.groups()
    if named:
        return _NAMED[named.lower()]
    code = int(hexadecimal or "0", 16) if hexadecimal is not None else int(decimal or "0")
    if code == 0:
        return ""
    return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _float(text: str) -> float | None:
    """A scale or offset as GDAL's CPLAtof reads it: the leading number, else 0."""
    if not text:
        return None
    match = _NUMBER.match(text)
    return float(match.group(1)) if match else 0.0


__all__ = [
    "GDALMetadata",
    "band_nodata",
    "parse_gdal_metadata",
]
