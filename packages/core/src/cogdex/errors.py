"""The exceptions cogdex raises: one hierarchy, each naming what failed and where.

Every error a user can meet derives from `CogdexError`, so `except cogdex.CogdexError` catches
them all; the subclasses carry the file/URL, byte range or field as attributes as well as in
the message, so tools can act on them. Every URL in a message or attribute is shown as
`cogdex.redact.safe_url` makes it (no userinfo, no query string): errors end up in logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    Reduced = tuple[Callable[..., Exception], tuple[object, ...]]
    """What `__reduce__` returns: a rebuild function and its arguments."""


class CogdexError(Exception):
    """Base class of every cogdex error."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(_redact(a) if isinstance(a, str) else a for a in args))


def _redact(text: str) -> str:
    from cogdex.redact import redact_urls  # urllib.parse: on the first error, not on import

    return redact_urls(text)


class TIFFError(CogdexError):
    """A TIFF that cannot be read: malformed, truncated, or using an unsupported feature.

    `source` is the file path or URL, `offset` the byte offset where the problem was found
    (None when it is not tied to one place).
    """

    def __init__(self, message: str, *, source: str | None = None, offset: int | None = None):
        self.source = None if source is None else _redact(source)
        self.offset = offset
        self.reason = _redact(message)
        where = []
        if self.source is not None:
            where.append(self.source)
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)

    # keep the keyword arguments across pickling (DataLoader workers)
    def __reduce__(self) -> Reduced:
        return (_rebuild_tiff_error, (type(self), self.reason, self.source, self.offset))


def _rebuild_tiff_error(
    cls: type[TIFFError], reason: str, source: str | None, offset: int | None
) -> TIFFError:
    return cls(reason, source=source, offset=offset)


class MalformedTIFF(TIFFError):
    """The bytes break the TIFF structure: bad magic, IFD loop, impossible counts or offsets."""


class TruncatedTIFF(MalformedTIFF):
    """The file ends before a structure it declares (an IFD, a tag array, a tile)."""


class UnsupportedTIFF(TIFFError):
    """A valid TIFF using a feature cogdex does not read (the message names the feature)."""


class DecodeError(TIFFError):
    """A tile's compressed bytes could not be decoded."""


class StoreError(CogdexError):
    """A URL that no store can serve, or store options that do not fit it."""


class MissingCredentialsError(StoreError):
    """A store that only answers signed requests, and no credential source has any.

    Raised before any request is sent; `root` names the bucket or host, and the message says
    what to configure (and `extra` the plugin to install, when it is missing).
    """

    def __init__(self, message: str, *, root: str, extra: str | None = None):
        self.root = _redact(root)
        self.extra = extra
        self.reason = _redact(message)
        super().__init__(message)

    def __reduce__(self) -> Reduced:
        return (_rebuild_credentials_error, (type(self), self.reason, self.root, self.extra))


def _rebuild_credentials_error(
    cls: type[MissingCredentialsError], reason: str, root: str, extra: str | None
) -> MissingCredentialsError:
    return cls(reason, root=root, extra=extra)


class FetchError(CogdexError):
    """A read from a store failed after every retry. `url` and `byte_range` say which."""

    def __init__(self, message: str, *, url: str, byte_range: tuple[int, int] | None = None):
        self.url = _redact(url)
        self.byte_range = byte_range
        self.reason = _redact(message)
        rng = f" bytes {byte_range[0]}-{byte_range[1] - 1}" if byte_range else ""
        super().__init__(f"{self.reason}: {self.url}{rng}")

    def __reduce__(self) -> Reduced:
        return (_rebuild_fetch_error, (type(self), self.reason, self.url, self.byte_range))


def _rebuild_fetch_error(
    cls: type[FetchError], reason: str, url: str, byte_range: tuple[int, int] | None
) -> FetchError:
    return cls(reason, url=url, byte_range=byte_range)


class NotFoundError(FetchError):
    """The object does not exist (HTTP 404 / NoSuchKey)."""


class ObjectChangedError(FetchError):
    """The object is not the one its header was read from: it is larger than the header
    says, or of the same size with another ETag (else Last-Modified): rewritten or
    replaced since it was indexed or opened (a shorter one is a `TruncatedTIFF`). Nothing
    of it is read, so bytes of two versions never meet in one array, nor new pixels the old
    header; build the index or open the file again (`COGDEX_CHECK_VERSION=0` compares the
    size only, for origins whose nodes give one object different ETags)."""


class DeadlineExceededError(FetchError, TimeoutError):
    """A GET, its retries and waits included, ran past the fetch deadline
    (`cogdex.io.fetch.configure(deadline=...)`)."""


class ReadDeadlineError(CogdexError, TimeoutError):
    """A read call (`get_numpy`, `sample_points`, a TorchGeo sample, `GeoTIFF.read`, ...) ran
    past its total deadline (`cogdex.io.fetch.configure(read_deadline=...)` or
    `COGDEX_READ_DEADLINE`); its requests were cancelled."""


class AccessDeniedError(FetchError):
    """The store refused the request (401/403): credentials missing, wrong, or expired."""


class MissingPluginError(CogdexError, ImportError):
    """A feature needs a plugin distribution that is not installed; the message says which."""

    def __init__(self, feature: str, extra: str | None, *, installed: Sequence[str] = ()):
        """`extra` is None for a feature that no cogdex extra provides (a third-party output);
        `installed` lists what the installed plugins do provide in its place."""
        self.feature = feature
        self.extra = extra
        if extra is None:
            message = f"{feature} is provided by no installed plugin"
        else:
            message = f'{feature} needs the {extra!r} plugin: pip install "cogdex[{extra}]"'
        if installed:
            message += f" (installed plugins provide: {', '.join(installed)})"
        super().__init__(message)


class UnknownDatasetError(CogdexError, KeyError):
    """A catalog dataset ID that no installed plugin provides."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class IndexSchemaError(CogdexError):
    """An index file or table that does not match the schema cogdex needs."""


class CRSError(CogdexError, ValueError):
    """A CRS value (an argument, a GeoJSON `crs` member, an index's `crs`) that PROJ cannot
    read; the message names the value."""


class GeometryError(CogdexError, ValueError):
    """An area or points argument that cannot be used: a bbox that is not 4 finite numbers
    in (xmin, ymin, xmax, ymax) order, coordinates outside lon/lat ranges, an area across
    the antimeridian as a read's lon/lat grid, or a CRS that conflicts with the one the
    geometries carry. `argument` names the argument."""

    def __init__(self, message: str, *, argument: str):
        self.argument = argument
        self.reason = _redact(message)
        super().__init__(message)

    def __reduce__(self) -> Reduced:
        return (_rebuild_geometry_error, (type(self), self.reason, self.argument))


def _rebuild_geometry_error(cls: type[GeometryError], reason: str, argument: str) -> GeometryError:
    return cls(reason, argument=argument)


class EmptyReadWarning(UserWarning):
    """A read whose geometries or points meet no record of the collection: the result is
    empty, and the warning names the bounds that found nothing."""


class ReadFailureWarning(UserWarning):
    """A read that failed and was filled instead of raising, because the caller asked for
    it (the TorchGeo dataset's `on_error="fill"`): the warning names what was not read (the
    chip's bounds) and the error (URL and byte range), so a fill never goes unseen."""


class BuildError(CogdexError):
    """A collection build that cannot proceed (bad source, band map, or strict failures)."""


class ExportError(CogdexError):
    """An export refused before anything was written: the destination holds something that is
    not a cogdex index, or an index that `overwrite=True` was not given to replace, or the
    rows hold an href with credentials (userinfo, a query string)."""


class IndexWriteError(CogdexError):
    """An index that could not be written (disk full, folder not writable, a path under a
    file). `path` is the index's; whatever was there before is left as it was."""

    def __init__(self, message: str, *, path: str):
        self.path = path
        self.reason = message
        super().__init__(f"cannot write the index {path}: {message}")

    def __reduce__(self) -> Reduced:
        return (_rebuild_write_error, (type(self), self.reason, self.path))


def _rebuild_write_error(cls: type[IndexWriteError], reason: str, path: str) -> IndexWriteError:
    return cls(reason, path=path)


class StaleIndexError(CogdexError):
    """An index file changed under a collection that was loaded from it (rebuilt, replaced or
    edited): the collection's rows and the file's no longer match, so nothing is read."""


class MemoryLimitError(CogdexError, MemoryError):
    """A read that would allocate more than the caller's `max_memory`."""


__all__ = [
    "AccessDeniedError",
    "BuildError",
    "CRSError",
    "CogdexError",
    "DeadlineExceededError",
    "DecodeError",
    "EmptyReadWarning",
    "ExportError",
    "FetchError",
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
    "TruncatedTIFF",
    "UnknownDatasetError",
    "UnsupportedTIFF",
]
