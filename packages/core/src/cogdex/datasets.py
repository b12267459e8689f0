"""Catalog entries: the value a dataset plugin hands to core (frozen data, no behaviour)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal


def _frozen[V](mapping: Mapping[str, V] | None) -> Mapping[str, V]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class StacSource:
    """Items come from a STAC API search over one collection."""

    api_url: str
    collection: str


@dataclass(frozen=True)
class TableSource:
    """Items come from a (Geo)Parquet table that lists TIFF URLs (stac-geoparquet and alike).

    `columns` maps cogdex's roles (`id`, `datetime`, `geometry`, `href`, `crs`) to the
    table's column names where they differ.
    """

    url: str
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", _frozen(self.columns))


Auth = Literal["none", "aws", "planetary-computer", "earthdata"]


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset in the catalog.

    `bands` maps the names users pass (`"B04"`, `"red"`) to asset keys of the source, and
    `band_index` gives the 0-based sample of bands stored together in one multi-band file.
    `cloud` names the extra whose plugin must be installed to read it (`"aws"`, `"azure"`,
    `"earthdata"`), or None for anonymous public data; `auth` says what that plugin does.
    `href_rewrites` maps URL prefixes of the source to the ones cogdex reads (e.g. an https
    mirror to the `s3://` bucket behind it); `store_options` are passed to the store.
    """

    id: str
    name: str
    description: str
    source: StacSource | TableSource
    license: str
    commercial_use: bool
    coverage: str
    bands: Mapping[str, str] = field(default_factory=dict)
    band_index: Mapping[str, int] = field(default_factory=dict)
    auth: Auth = "none"
    cloud: str | None = None
    requester_pays: bool = False
    temporal: str = ""
    homepage: str = ""
    href_rewrites: Mapping[str, str] = field(default_factory=dict)
    store_options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("bands", "band_index", "href_rewrites", "store_options"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        unknown = set(self.band_index) - set(self.bands)
        if unknown:
            raise ValueError(
                f"dataset {self.id!r}: band_index names unknown bands {sorted(unknown)}"
            )
        if "/" not in self.id:
            raise ValueError(f"dataset id {self.id!r} must look like 'provider/name'")

    def to_dict(self) -> dict:
        """A JSON-ready view (what `cogdex datasets list --json` prints)."""
        src = self.source
        source = (
            {"type": "stac", "api_url": src.api_url, "collection": src.collection}
            if isinstance(src, StacSource)
            else {"type": "table", "url": src.url, "columns": dict(src.columns)}
        )
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "source": source,
            "license": self.license,
            "commercial_use": self.commercial_use,
            "coverage": self.coverage,
            "temporal": self.temporal,
            "bands": dict(self.bands),
            "band_index": dict(self.band_index),
            "auth": self.auth,
            "cloud": self.cloud,
            "requester_pays": self.requester_pays,
            "homepage": self.homepage,
            "href_rewrites": dict(self.href_rewrites),
            "store_options": dict(self.store_options),
        }


__all__ = [
    "Auth",
    "DatasetEntry",
    "StacSource",
    "TableSource",
]
