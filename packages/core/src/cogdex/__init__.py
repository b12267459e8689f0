"""cogdex: index-first access to cloud-native GeoTIFF collections.

Heavy dependencies load on first use, so `import cogdex` stays cheap for short-lived jobs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cogdex.errors import (
    AccessDeniedError,
    BuildError,
    CogdexError,
    CRSError,
    DeadlineExceededError,
    DecodeError,
    EmptyReadWarning,
    ExportError,
    FetchError,
    GeometryError,
    IndexSchemaError,
    IndexWriteError,
    MalformedTIFF,
    MemoryLimitError,
    MissingCredentialsError,
    MissingPluginError,
    NotFoundError,
    ObjectChangedError,
    ReadDeadlineError,
    ReadFailureWarning,
    StaleIndexError,
    StoreError,
    TIFFError,
    TruncatedTIFF,
    UnknownDatasetError,
    UnsupportedTIFF,
)

if TYPE_CHECKING:
    from cogdex.builds import build, build_from_items, build_from_stac, build_from_table
    from cogdex.collection import Collection, as_collection, load
    from cogdex.read.geotiff import GeoTIFF, open, open_async
    from cogdex.tiff.model import TIFFHeader

# Public names whose modules import numpy/pyarrow/pyproj/shapely/imagecodecs: loaded on first
# attribute access.
_LAZY = {
    "Collection": "cogdex.collection",
    "as_collection": "cogdex.collection",
    "load": "cogdex.collection",
    "build": "cogdex.builds",
    "build_from_items": "cogdex.builds",
    "build_from_stac": "cogdex.builds",
    "build_from_table": "cogdex.builds",
    "GeoTIFF": "cogdex.read.geotiff",
    "TIFFHeader": "cogdex.tiff.model",
    "open": "cogdex.read.geotiff",
    "open_async": "cogdex.read.geotiff",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from cogdex._version import __version__

        return __version__
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cogdex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AccessDeniedError",
    "BuildError",
    "CRSError",
    "CogdexError",
    "Collection",
    "DeadlineExceededError",
    "DecodeError",
    "EmptyReadWarning",
    "ExportError",
    "FetchError",
    "GeoTIFF",
    "GeometryError",
    "IndexSchemaError",
    "IndexWriteError",
    "MalformedTIFF",
    "MemoryLimitError",
    "MissingCredentialsError",
    "MissingPluginError",
    "NotFoundError",
    "ObjectChangedError",
    "ReadDeadlineError",
    "ReadFailureWarning",
    "StaleIndexError",
    "StoreError",
    "TIFFError",
    "TIFFHeader",
    "TruncatedTIFF",
    "UnknownDatasetError",
    "UnsupportedTIFF",
    "__version__",
    "as_collection",
    "build",
    "build_from_items",
    "build_from_stac",
    "build_from_table",
    "load",
    "open",
    "open_async",
]
