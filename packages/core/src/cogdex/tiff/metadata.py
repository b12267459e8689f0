"""GDAL's private tags: GDAL_NODATA (ASCII number) and GDAL_METADATA (XML items)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)")


def parse_nodata(text: str | None) -> float | None:
    """GDAL_NODATA as GDAL reads it: "nan"/"inf" words, else the leading number."""
    if text is None:
        return None
    word = text.strip().lower()
    if word in ("nan", "-nan", "+nan"):
        return math.nan
    if word in ("inf", "+inf", "infinity", "+infinity", "1.#inf"):
        return math.inf
    if word in ("-inf", "-infinity", "-1.#inf"):
        return -math.inf
    match = _NUMBER.match(text)
    return float(match.group()) if match else 0.0  # GDAL's CPLAtof yields 0 for junk


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
        value = item.text or ""
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


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
