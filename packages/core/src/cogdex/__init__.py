"""cogdex: index-first access to cloud-native GeoTIFF collections.

Heavy dependencies load on first use, so `import cogdex` stays cheap for short-lived jobs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from cogdex.errors import (
    AccessDeniedError,
    BuildError,
    CogdexError,
    DecodeError,
    FetchError,
    IndexSchemaError,
    MalformedTIFF,
    MemoryLimitError,
    MissingPluginError,
    NotFoundError,
    StoreError,
    TIFFError,
    TruncatedTIFF,
    UnknownDatasetError,
    UnsupportedTIFF,
)

try:
    __version__ = version("cogdex-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "AccessDeniedError",
    "BuildError",
    "CogdexError",
    "DecodeError",
    "FetchError",
    "IndexSchemaError",
    "MalformedTIFF",
    "MemoryLimitError",
    "MissingPluginError",
    "NotFoundError",
    "StoreError",
    "TIFFError",
    "TruncatedTIFF",
    "UnknownDatasetError",
    "UnsupportedTIFF",
    "__version__",
]
