"""Byte ranges -> bytes: the only place cogdex talks to object stores.

Every request is counted (`stats()`), and store errors become cogdex's typed errors that name
the URL and byte range.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cogdex.errors import AccessDeniedError, FetchError, NotFoundError
from cogdex.io import runtime
from cogdex.io.stores import stores
from cogdex.io.urls import ObjectURL


@dataclass(frozen=True)
class FetchStats:
    """Requests made and bytes received (a snapshot; subtract two to measure a span)."""

    requests: int = 0
    bytes: int = 0

    def __sub__(self, other: FetchStats) -> FetchStats:
        return FetchStats(self.requests - other.requests, self.bytes - other.bytes)


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def add(self, requests: int, nbytes: int) -> None:
        with self._lock:
            self.requests += requests
            self.bytes += nbytes


_counter = _Counter()


def stats() -> FetchStats:
    """Totals of this process since it started."""
    return FetchStats(_counter.requests, _counter.bytes)


def _error(exc: Exception, url: str, byte_range: tuple[int, int] | None) -> FetchError:
    name = type(exc).__name__  # class identity differs in a private obstore copy (see runtime)
    text = str(exc).split("\n", 1)[0]
    if name == "NotFoundError" or "404" in text:
        return NotFoundError(f"not found ({text})", url=url, byte_range=byte_range)
    if (
        name in ("PermissionDeniedError", "UnauthenticatedError")
        or " 403" in text
        or " 401" in text
    ):
        return AccessDeniedError(f"access denied ({text})", url=url, byte_range=byte_range)
    return FetchError(f"{name}: {text}", url=url, byte_range=byte_range)


async def read_head(
    url: str | os.PathLike[str] | ObjectURL,
    length: int,
    *,
    options: Mapping[str, Any] | None = None,
) -> tuple[bytes, int]:
    """The first `length` bytes of an object (fewer if it is shorter) and its total size,
    in one request."""
    store, key, parsed = stores().resolve(url, options)
    obs = runtime.obstore()
    try:
        result = await obs.get_async(store, key, options={"range": (0, length)})
        data = bytes(await result.bytes_async())
    except Exception as exc:  # obstore raises its own hierarchy; map it
        raise _error(exc, parsed.url, (0, length)) from exc
    _counter.add(1, len(data))
    return data, int(result.meta["size"])


async def read_ranges(
    url: str | os.PathLike[str] | ObjectURL,
    ranges: Sequence[tuple[int, int]],
    *,
    options: Mapping[str, Any] | None = None,
) -> list[bytes]:
    """The bytes of each half-open (start, end) range of one object."""
    if not ranges:
        return []
    store, key, parsed = stores().resolve(url, options)
    obs = runtime.obstore()
    starts = [r[0] for r in ranges]
    ends = [r[1] for r in ranges]
    try:
        parts = await obs.get_ranges_async(store, key, starts=starts, ends=ends)
    except Exception as exc:
        raise _error(exc, parsed.url, (min(starts), max(ends))) from exc
    out = [bytes(p) for p in parts]
    _counter.add(1, sum(len(p) for p in out))
    return out
