"""Byte ranges -> bytes: the only place cogdex talks to object stores.

A read asks for ranges of one or many objects. Ranges of one object that are adjacent or
close (`gap`) are merged into one GET, up to `max_merge` bytes per GET; every GET of every
object runs concurrently under one process-wide limit (`max_concurrency`). Failures that may
pass (408, 429, 5xx, timeouts, resets, short bodies) are retried with exponential backoff and
jitter (at least `throttle_backoff` after 429/503); what is left raises a typed `FetchError`
naming the URL and byte range, and a GET that runs past `deadline`, retries included, raises
`DeadlineExceededError`. A missing object or a range outside it never passes, on any store,
so it is raised at once. A range GET answered with the whole object (HTTP 200) is asked again
at once; only a second 200 turns the read into one whole-object GET, and the origin is
re-probed with Range after a few reads. A whole body kept for later reads serves those
that expect its version; a header read asks the server whether it is still current.
Every request is counted: process totals in `stats()`, a span of code with `recording()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import random
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from cogdex.errors import (
    AccessDeniedError,
    DeadlineExceededError,
    FetchError,
    NotFoundError,
    ObjectChangedError,
    ReadDeadlineError,
)
from cogdex.io import runtime
from cogdex.io.stores import stores
from cogdex.io.urls import ObjectURL
from cogdex.redact import safe_url

URLLike = str | os.PathLike[str] | ObjectURL


@dataclass(frozen=True)
class FetchConfig:
    """Tuning of the fetch layer (`configure()` or `COGDEX_*` environment variables)."""

    max_concurrency: int = 64
    """GETs in flight at once in this process, across all objects."""
    gap: int = 64 * 1024
    """Ranges of one object closer than this are fetched by one GET (the gap is read too)."""
    max_merge: int = 16 * 1024 * 1024
    """A merged GET never spans more than this (larger requests stay concurrent)."""
    retries: int = 4
    """Extra tries after the first for failures that may pass."""
    backoff: float = 0.2
    """First retry delay in seconds; doubles per try, with jitter, up to `backoff_max`."""
    backoff_max: float = 8.0
    throttle_backoff: float = 1.0
    """Least delay before retrying a 429 or 503: the server's `Retry-After` is not visible
    through obstore, and 1 s is what S3, GCS and Azure ask of throttled clients."""
    deadline: float | None = 120.0
    """Seconds one GET may take from its first try, retries and their waits included, before
    `DeadlineExceededError` (None: no limit). Stalls are cut sooner, by the store's
    `read_timeout` (see `cogdex.io.stores`)."""
    read_deadline: float | None = None
    """Seconds one read call may take in all (every GET, retry, decode and warp of a
    `get_numpy`, `sample_points`, TorchGeo sample or `GeoTIFF.read`) before
    `ReadDeadlineError` (None: no limit beyond each GET's `deadline`)."""
    whole_object_cache: int = 256 * 1024 * 1024
    """Bytes of whole objects kept for servers that ignore Range requests; a larger object
    is read only up to the last byte a read needs, and not kept. A kept body serves reads
    of its version; a header read revalidates it (see `_whole_object`)."""
    check_version: bool = True
    """Compare every GET's ETag (else Last-Modified) with the one its header was read
    with, so an object rewritten in place with the same size is `ObjectChangedError`, not
    a mix. Turn off (`COGDEX_CHECK_VERSION=0`) only for an origin whose nodes give one
    object different ETags and dates (load-balanced HTTP servers): the size is then the
    only check."""

    @classmethod
    def from_env(cls) -> FetchConfig:
        cfg = cls()
        env = {
            "max_concurrency": "COGDEX_MAX_CONCURRENCY",
            "gap": "COGDEX_FETCH_GAP",
            "max_merge": "COGDEX_FETCH_MAX_MERGE",
            "retries": "COGDEX_FETCH_RETRIES",
        }
        values: dict[str, Any] = {
            k: int(os.environ[v]) for k, v in env.items() if os.environ.get(v)
        }
        for key, var in (
            ("deadline", "COGDEX_FETCH_DEADLINE"),
            ("read_deadline", "COGDEX_READ_DEADLINE"),
        ):
            if seconds := os.environ.get(var):  # seconds, or "none"
                values[key] = None if seconds.lower() == "none" else float(seconds)
        if check := os.environ.get("COGDEX_CHECK_VERSION"):
            values["check_version"] = check.strip().lower() not in ("0", "false", "no", "off")
        return replace(cfg, **values)


_config = FetchConfig.from_env()


def configure(**changes: Any) -> FetchConfig:
    """Change fetch settings for this process; returns the new configuration."""
    global _config
    _config = replace(_config, **changes)
    return _config


def config() -> FetchConfig:
    return _config


def run_read[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run a read's coroutine from synchronous code within `read_deadline`: past it, the
    read's tasks are cancelled and `ReadDeadlineError` is raised."""
    deadline = _config.read_deadline
    try:
        return runtime.run(coro, timeout=deadline)
    except runtime.RunTimedOut:
        raise ReadDeadlineError(
            f"the read did not finish within its {deadline} s deadline (read_deadline)"
        ) from None


# -- counting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchStats:
    """Requests made and bytes received (a snapshot; subtract two to measure a span)."""

    requests: int = 0
    """GETs sent, failed ones and retries included."""
    bytes: int = 0
    retries: int = 0

    def __sub__(self, other: FetchStats) -> FetchStats:
        return FetchStats(
            self.requests - other.requests, self.bytes - other.bytes, self.retries - other.retries
        )


class StatsRecorder:
    """Counts the requests of one span of code (see `recording`); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.retries = 0

    def add(self, requests: int, nbytes: int, retries: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.bytes += nbytes
            self.retries += retries

    def snapshot(self) -> FetchStats:
        return FetchStats(self.requests, self.bytes, self.retries)


_totals = StatsRecorder()
_active: contextvars.ContextVar[tuple[StatsRecorder, ...]] = contextvars.ContextVar(
    "cogdex_fetch_recorders", default=()
)


def stats() -> FetchStats:
    """Totals of this process since it started."""
    return _totals.snapshot()


@contextlib.contextmanager
def recording() -> Iterator[StatsRecorder]:
    """Count the requests made inside the block (including tasks it starts and sync calls
    that run on cogdex's loop thread)."""
    recorder = StatsRecorder()
    token = _active.set((*_active.get(), recorder))
    try:
        yield recorder
    finally:
        _active.reset(token)


def _count(requests: int, nbytes: int, retries: int = 0) -> None:
    _totals.add(requests, nbytes, retries)
    for recorder in _active.get():
        recorder.add(requests, nbytes, retries)


# -- errors and retries ---------------------------------------------------------------------


class OutsideObjectError(FetchError):
    """A range that ends past the end of the object: the object is shorter than the caller
    was told (empty, truncated, or replaced since its header was read)."""


class ObjectVersion(NamedTuple):
    """Which version of an object bytes came from, as a GET's answer says: its size, and
    its ETag and Last-Modified where the store gives them (None where not). No request of
    its own: obstore returns these with every GET. (A tuple: made and compared on every
    GET, in a third of a frozen dataclass's time.)"""

    size: int
    etag: str | None = None
    last_modified: datetime | None = None

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> ObjectVersion:
        """The version an obstore `GetResult.meta` describes. object_store reports an
        answer without Last-Modified as the epoch (HTTP servers may send none): None."""
        modified = meta.get("last_modified")
        return cls(meta["size"], meta.get("e_tag"), None if modified == _EPOCH else modified)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_not_found(exc: BaseException) -> bool:
    """Whether an obstore error says the object does not exist: obstore raises the builtin
    `FileNotFoundError` (its own `NotFoundError` is deprecated, still matched)."""
    return isinstance(exc, FileNotFoundError) or runtime.is_obstore_error(exc, "NotFoundError")


@dataclass(frozen=True)
class _Message:
    """What an obstore error's message says that its class does not (see `_read_message`)."""

    line: str
    """The message's first line (what a cogdex error quotes)."""
    status: int | None
    """The HTTP status of the answer, if the message names one."""
    token_request: bool
    """The failed request was a credential provider's token exchange (Azure AD, GCP)."""
    outside: bool
    """A range past the end of a local file or in-memory object."""
    names_range: bool
    """The message is about Range (with `NotSupportedError`: a 200 answer to a range GET)."""


_STATUS = re.compile(r"status code: (\d{3})")
_TOKEN_REQUEST = "Error performing token request"
_OUTSIDE = ("Requested range was invalid", "Wanted range")


def _read_message(exc: BaseException) -> _Message:
    """The facts only an obstore error's text carries: obstore raises one `GenericError` for
    every HTTP status it has no class for (400, 408, 416, 429, 5xx), for failed token
    exchanges and for ranges past the end, so these are read from object_store's wording
    (tests/io/test_fetch_faults.py and tests/cloud pin it). The only message matching here."""
    text = str(exc).split("\n", 1)[0]
    match = _STATUS.search(text)
    return _Message(
        line=text,
        status=int(match.group(1)) if match else None,
        token_request=_TOKEN_REQUEST in text,
        outside=any(words in text for words in _OUTSIDE),
        names_range="Range" in text,
    )


class _Retryable(Exception):
    """A failure worth another try; carries the error to raise if tries run out, and whether
    the server said it is overloaded (429, 503), which asks for a longer wait."""

    def __init__(self, error: FetchError, *, throttled: bool = False):
        super().__init__(str(error))
        self.error = error
        self.throttled = throttled


class _RangeNotSupported(Exception):
    pass


def _classify(exc: Exception, parsed: ObjectURL, byte_range: tuple[int, int] | None) -> Exception:
    """obstore exception -> a cogdex error, wrapped in `_Retryable` when it may pass (never
    for a local file: a disk gives the same answer every time)."""
    url = parsed.url
    said = _read_message(exc)
    text, status = said.line, said.status
    if runtime.is_obstore_error(exc, "NotSupportedError") and said.names_range:
        return _RangeNotSupported(text)
    if said.token_request and status is not None and 400 <= status < 500 and status != 429:
        # OAuth token endpoints refuse an unknown client, tenant or scope with 400 (RFC 6749
        # 5.2), a bad secret with 401: a credential problem, never a missing object.
        return AccessDeniedError(f"access denied ({text})", url=url, byte_range=byte_range)
    if is_not_found(exc):
        return NotFoundError("not found", url=url, byte_range=byte_range)
    if (
        runtime.is_obstore_error(exc, "PermissionDeniedError")
        or runtime.is_obstore_error(exc, "UnauthenticatedError")
        or status in (401, 403)  # inside GenericError: a credential provider's own request
    ):
        return AccessDeniedError(f"access denied ({text})", url=url, byte_range=byte_range)
    if status == 416 or said.outside:
        return OutsideObjectError(
            f"range outside the object ({text})", url=url, byte_range=byte_range
        )
    error = FetchError(text, url=url, byte_range=byte_range)
    if parsed.kind == "local":
        return error
    if status is None or status in (408, 429) or status >= 500:
        # connection reset, timeout (also the server's, 408), body error, throttling, 5xx
        return _Retryable(error, throttled=status in (429, 503))
    return error


def _backoff(attempt: int, cfg: FetchConfig, throttled: bool) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random; never shorter than
    `throttle_backoff` for a server that said it is overloaded."""
    delay = min(cfg.backoff_max, cfg.backoff * (2**attempt))
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, cfg.throttle_backoff) if throttled else delay


async def _with_retries[T](
    try_once: Callable[[], Awaitable[T]], url: str, byte_range: tuple[int, int] | None
) -> T:
    """Await `try_once()` in a concurrency slot until it succeeds, retrying `_Retryable`
    failures with backoff, all within `deadline` from the moment the first try got its slot
    (waiting for a slot is not a failure).

    A range GET answered with the whole object is asked again once at once (a proxy or CDN
    node may ignore Range on one answer); a second such answer raises `_RangeNotSupported`.
    """
    cfg = _config
    loop = asyncio.get_running_loop()
    give_up_at: float | None = None
    attempt = 0
    range_ignored = False
    last_failure = ""
    while True:
        try:
            async with _limit():
                if give_up_at is None and cfg.deadline is not None:
                    give_up_at = loop.time() + cfg.deadline
                timeout = asyncio.timeout_at(give_up_at)
                async with timeout:
                    return await try_once()
        except TimeoutError as exc:
            if not timeout.expired():
                raise
            when = f"during try {attempt + 1}"
            raise _deadline_error(cfg, when, last_failure, url, byte_range) from exc
        except _RangeNotSupported:
            if range_ignored:
                raise
            range_ignored = True
        except _Retryable as retry:
            last_failure = retry.error.reason
            if attempt == cfg.retries:
                raise FetchError(
                    f"failed after {cfg.retries + 1} tries: {last_failure}",
                    url=url,
                    byte_range=byte_range,
                ) from retry
            delay = _backoff(attempt, cfg, retry.throttled)
            if give_up_at is not None and loop.time() + delay > give_up_at:
                when = f"before try {attempt + 2}"
                raise _deadline_error(cfg, when, last_failure, url, byte_range) from retry
            await asyncio.sleep(delay)
            attempt += 1
        _count(0, 0, retries=1)


def _deadline_error(
    cfg: FetchConfig, when: str, last_failure: str, url: str, byte_range: tuple[int, int] | None
) -> DeadlineExceededError:
    reason = f"{cfg.deadline:g} s deadline passed {when}"
    if last_failure:
        reason += f" (last failure: {last_failure})"
    return DeadlineExceededError(reason, url=url, byte_range=byte_range)


# -- concurrency ----------------------------------------------------------------------------

_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _limit() -> asyncio.Semaphore:
    """The in-flight limit of the running loop (asyncio primitives belong to one loop)."""
    loop = asyncio.get_running_loop()
    size = _config.max_concurrency
    entry = _limits.get(loop)
    if entry is None or entry[0] != size:
        entry = _limits[loop] = (size, asyncio.Semaphore(size))
    return entry[1]


# -- merging --------------------------------------------------------------------------------


def merge_ranges(
    starts: np.ndarray, ends: np.ndarray, gap: int, max_merge: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group half-open ranges into GETs: sorted by start, a range joins the current GET when it
    begins at most `gap` bytes after the GET's end and the GET stays within `max_merge` bytes.

    Returns (get_starts, get_ends, get_of_range): the GETs and, for each input range, the
    index of the GET that covers it.
    """
    n = len(starts)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    order = np.argsort(starts, kind="stable")
    s = starts[order].astype(np.int64)
    e = ends[order].astype(np.int64)
    run_end = np.maximum.accumulate(e)
    # A new GET starts where the gap to everything before exceeds `gap`.
    breaks = np.ones(n, bool)
    breaks[1:] = s[1:] > run_end[:-1] + gap
    group = np.cumsum(breaks) - 1
    if max_merge and n > 1:  # split groups that grew too long (rare; a short Python pass)
        first = s[np.flatnonzero(breaks)][group]
        if np.any(e - first > max_merge):
            group = _split_long(s, e, breaks, max_merge)
    n_get = int(group[-1]) + 1
    get_start = np.full(n_get, np.iinfo(np.int64).max, np.int64)
    get_end = np.zeros(n_get, np.int64)
    np.minimum.at(get_start, group, s)
    np.maximum.at(get_end, group, e)
    get_of_range = np.empty(n, np.int64)
    get_of_range[order] = group
    return get_start, get_end, get_of_range


def _split_long(s: np.ndarray, e: np.ndarray, breaks: np.ndarray, max_merge: int) -> np.ndarray:
    group = np.empty(len(s), np.int64)
    g, first, cur_end = -1, 0, 0
    for i in range(len(s)):
        if breaks[i] or max(cur_end, e[i]) - first > max_merge:
            g, first, cur_end = g + 1, s[i], e[i]
        else:
            cur_end = max(cur_end, e[i])
        group[i] = g
    return group


# -- whole-object fallback for servers that ignore Range -------------------------------------

# Reads of an origin that ignored Range twice in a row that go straight to a whole-object GET
# before a read asks with Range again (the proxy may have been fixed, or the 200s were a whim).
_REPROBE_AFTER = 16


class _WholeObjects:
    """Bodies of objects whose server answered a range GET with the whole object (HTTP 200),
    and the origins that did so recently. A body is kept per store (the store options,
    credentials included), so one fetched with credentials never serves a read without
    them; the entry holds its store, so the store's id is never reused while it is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: OrderedDict[tuple[str, int], tuple[Any, memoryview, ObjectVersion]] = (
            OrderedDict()
        )
        self._size = 0
        self._no_range: dict[str, int] = {}  # root -> whole-object reads left before a probe

    def get(self, url: str, store: Any) -> tuple[memoryview, ObjectVersion] | None:
        if not self._bodies:  # the clean path: no lock
            return None
        with self._lock:
            entry = self._bodies.get((url, id(store)))
            if entry is None:
                return None
            self._bodies.move_to_end((url, id(store)))
            return entry[1], entry[2]

    def put(self, url: str, store: Any, body: memoryview, version: ObjectVersion) -> None:
        """Keep `body`, in place of an older version of the object kept before."""
        limit = _config.whole_object_cache
        with self._lock:
            if len(body) > limit:
                return
            old = self._bodies.pop((url, id(store)), None)
            if old is not None:
                self._size -= len(old[1])
            self._bodies[(url, id(store))] = (store, body, version)
            self._size += len(body)
            while self._size > limit:
                _, (_, dropped, _) = self._bodies.popitem(last=False)
                self._size -= len(dropped)

    def ignored_range(self, root: str) -> None:
        """`root` answered a range GET and its retry with the whole object."""
        with self._lock:
            self._no_range[root] = _REPROBE_AFTER

    def skip_range(self, root: str) -> bool:
        """Whether this read of `root` should skip Range; counts down to the next probe."""
        if not self._no_range:  # the clean path: no lock
            return False
        with self._lock:
            left = self._no_range.pop(root, 0)
            if left > 1:
                self._no_range[root] = left - 1
            return left > 0


_whole = _WholeObjects()


async def _whole_object(
    store: Any, key: str, parsed: ObjectURL, need: int, expected: ObjectVersion | None = None
) -> tuple[memoryview, ObjectVersion]:
    """(body, the object's version) from one GET without Range: the whole body when it
    fits the whole-object cache (kept there), else its first `need` bytes or more (the
    transfer is dropped there).

    A kept body serves a read that expects its version (a tile read: its header's) with
    no request; one of another version (kept before the object was rewritten, its header
    read since) is fetched again, and the new body kept in its place. A read that expects
    no version (a header read: a fresh open or build) asks the server first, as the object
    may have been rewritten since the body was kept: its GET sends the kept ETag as
    `If-None-Match` (304: the kept body serves; 200: the new body, kept), or, without an
    ETag, a HEAD compares size and Last-Modified first (`_revalidate`)."""
    url = parsed.url
    cached = _whole.get(url, store)
    unless: ObjectVersion | None = None  # the kept version a GET may be answered 304 for
    if cached is not None:
        if expected is not None:
            if same_version(cached[1], expected):
                return cached
        elif cached[1].etag is not None:
            unless = cached[1]
        elif await _revalidate(store, key, parsed, cached[1]):
            return cached

    async def get() -> tuple[memoryview, ObjectVersion] | None:
        _count(1, 0)
        try:
            got = await _blocking(_get_whole, store, key, need, unless)
        except Exception as exc:
            raise _classify(exc, parsed, None) from exc
        if got is None:
            return None
        data, version = got
        _count(0, len(data))
        if len(data) < min(need, version.size):
            reason = f"short body: {len(data)} of {version.size} bytes"
            raise _Retryable(FetchError(reason, url=url, byte_range=None))
        return memoryview(data), version

    fetched = await _with_retries(get, url, None)
    if fetched is None:  # 304: the kept body is the object's current version
        assert cached is not None
        return cached
    body, version = fetched
    if len(body) == version.size:
        _whole.put(url, store, body, version)
    return body, version


async def _revalidate(store: Any, key: str, parsed: ObjectURL, kept: ObjectVersion) -> bool:
    """Whether a kept body without an ETag (nothing to send as `If-None-Match`) is still
    the object's current version, by a HEAD: the same size and Last-Modified. Without a
    Last-Modified either, or where the HEAD fails, nothing but a new body tells its versions
    apart: False."""
    if kept.last_modified is None:
        return False

    async def head() -> ObjectVersion:
        _count(1, 0)
        try:
            meta = await _blocking(runtime.obstore().head, store, key)
        except Exception as exc:
            raise _classify(exc, parsed, None) from exc
        return ObjectVersion.of(meta)

    try:
        current = await _with_retries(head, parsed.url, None)
    except FetchError:  # an origin that refuses HEAD (405): its GET decides, as without one
        return False
    return (current.size, current.last_modified) == (kept.size, kept.last_modified)


def _use_whole_object(parsed: ObjectURL, store: Any) -> bool:
    """Whether a read is served by a whole-object GET: its body is cached, or its origin
    ignored Range lately."""
    return _whole.get(parsed.url, store) is not None or _whole.skip_range(parsed.root)


# -- the reads ------------------------------------------------------------------------------


async def _blocking[T](function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking obstore call on the I/O threads (see `runtime.io_pool`)."""
    loop = asyncio.get_running_loop()
    pool = runtime.io_pool(_config.max_concurrency)
    return await loop.run_in_executor(pool, functools.partial(function, *args, **kwargs))


def _get_whole(
    store: Any, key: str, need: int, unless: ObjectVersion | None = None
) -> tuple[Any, ObjectVersion] | None:
    """(body, object version): the whole body if the whole-object cache can keep it, else
    the chunks up to `need` bytes; dropping the stream closes the connection. None when
    the object is still `unless` (sent as `If-None-Match`; the server answered 304)."""
    options = {} if unless is None else {"if_none_match": unless.etag}
    try:
        result = runtime.obstore().get(store, key, options=options)
    except Exception as exc:
        if unless is not None and runtime.is_obstore_error(exc, "NotModifiedError"):
            return None
        raise
    version = ObjectVersion.of(result.meta)
    size = version.size
    if size <= _config.whole_object_cache:
        return result.bytes(), version
    chunks, got = [], 0
    for chunk in result.stream(min_chunk_size=max(1, min(need, _STREAM_CHUNK))):
        chunks.append(chunk)
        got += len(chunk)
        if got >= need:
            break
    return b"".join(chunks), version


_STREAM_CHUNK = 1 << 20


def _get_head(store: Any, key: str, length: int) -> tuple[bytes, ObjectVersion]:
    result = runtime.obstore().get(store, key, options={"range": (0, length)})
    return bytes(result.bytes()), ObjectVersion.of(result.meta)


async def _head(store: Any, key: str, length: int) -> tuple[bytes, ObjectVersion]:
    """`_get_head` through obstore's async API on cogdex's loop (behind its exit fence,
    `runtime.obstore_future`), else on the I/O threads."""
    if not runtime.on_own_loop():
        return await _blocking(_get_head, store, key, length)
    ob = runtime.obstore()
    result = await runtime.obstore_future(ob.get_async(store, key, options={"range": (0, length)}))
    data = await runtime.obstore_future(result.bytes_async())
    return bytes(data), ObjectVersion.of(result.meta)


def _get_sized_range(store: Any, key: str, start: int, end: int) -> tuple[Any, ObjectVersion]:
    result = runtime.obstore().get(store, key, options={"range": (start, end)})
    return result.bytes(), ObjectVersion.of(result.meta)


async def _range(store: Any, key: str, start: int, end: int) -> tuple[Any, ObjectVersion]:
    """(bytes [start, end), the object's version) through obstore's async API on cogdex's
    loop (behind its exit fence), else on the I/O threads: a read's GETs then all go out
    at once, where the threads spread a cold `get_numpy`'s 96 over 20-100 ms, each
    thread's start waiting for the GIL (docs/benchmarks.md, 2026-12-06 (late)). A caller's
    own loop keeps the threads: bridging its GETs to cogdex's loop saved 15 ms of CPU but
    cost window-read 13 ms of wall (docs/benchmarks.md, 2026-12-06 (session close)). The
    version's size is the whole object's (a ranged answer's `Content-Range` total); with
    its ETag and Last-Modified it tells a replaced file apart."""
    if not runtime.on_own_loop():
        return await _blocking(_get_sized_range, store, key, start, end)
    ob = runtime.obstore()
    result = await runtime.obstore_future(ob.get_async(store, key, options={"range": (start, end)}))
    data = await runtime.obstore_future(result.bytes_async())
    return data, ObjectVersion.of(result.meta)


async def gather_or_cancel[T](coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all, cancel the rest at the first failure and raise that failure itself (not an
    ExceptionGroup), so callers see one typed error and no sibling keeps fetching after it
    (`asyncio.gather` leaves them running). A cancelled sibling's obstore calls finish in the
    background behind the runtime's exit fence (`runtime.obstore_future` shields them)."""
    if len(coros) == 1:
        return [await coros[0]]
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(c) for c in coros]
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


async def _get_range(
    store: Any,
    key: str,
    parsed: ObjectURL,
    start: int,
    end: int,
    expected: ObjectVersion | None,
) -> memoryview:
    """One GET of bytes [start, end) with retries; a short body is retried, then an error;
    an object of another version than `expected` (when given) is an error at once."""
    url = parsed.url

    async def get() -> memoryview:
        _count(1, 0)
        try:
            data, found = await _range(store, key, start, end)
        except Exception as exc:
            raise _classify(exc, parsed, (start, end)) from exc
        view = memoryview(data)
        _count(0, len(view))
        _check_version(found, expected, url, (start, end))
        if len(view) != end - start:
            reason = f"short body: {len(view)} of {end - start} bytes"
            if parsed.kind == "local":  # the file ends there; a transfer cannot be cut short
                raise OutsideObjectError(reason, url=url, byte_range=(start, end))
            raise _Retryable(FetchError(reason, url=url, byte_range=(start, end)))
        return view

    return await _with_retries(get, url, (start, end))


def _check_version(
    found: ObjectVersion,
    expected: ObjectVersion | None,
    url: str,
    byte_range: tuple[int, int] | None,
) -> None:
    """The object must still be the version its header was read from. A shorter one is
    `OutsideObjectError`, what its ranges past the new end raise too, so a cut file gives
    one error whichever GET answers first; a larger one, or one of the same size whose
    ETag (else Last-Modified, where the store gives no ETag) differs, `ObjectChangedError`.
    Nothing is compared where either side lacks it (an index written before cogdex kept
    them: the size only)."""
    if expected is None or found == expected:
        return
    size = expected.size
    if found.size < size:
        raise OutsideObjectError(
            f"the object is {found.size} bytes, shorter than the {size} its header was read from",
            url=url,
            byte_range=byte_range,
        )
    if same_version(found, expected):
        return
    if found.size > size:
        what = f"the object is {found.size} bytes, not the {size} its header was read from"
    elif found.etag is not None and expected.etag is not None:
        what = f"the object's ETag is {found.etag}, not the {expected.etag} of its header"
    else:
        what = (
            f"the object was modified at {found.last_modified}, not at the "
            f"{expected.last_modified} of its header"
        )
    raise ObjectChangedError(
        f"{what}: it changed since it was indexed or opened (open it or build its "
        "collection again, with force=True for a cached build; if the origin's "
        "load-balanced nodes give one object different ETags or dates, turn this check "
        "off: cogdex.io.fetch.configure(check_version=False) or COGDEX_CHECK_VERSION=0)",
        url=url,
        byte_range=byte_range,
    )


def same_version(found: ObjectVersion, expected: ObjectVersion) -> bool:
    """Whether two answers may come from one version of an object: the same size, and
    (unless `check_version` is off) the same ETag where both have one, else the same
    Last-Modified where both have one (a weak `W/` ETag is compared as its string: equal
    ones name one version)."""
    if found.size != expected.size:
        return False
    if not _config.check_version:
        return True
    if found.etag is not None and expected.etag is not None:
        return found.etag == expected.etag
    if found.last_modified is not None and expected.last_modified is not None:
        return found.last_modified == expected.last_modified
    return True


async def read_ranges(
    url: URLLike,
    ranges: Sequence[tuple[int, int]],
    *,
    options: Mapping[str, Any] | None = None,
    version: ObjectVersion | None = None,
) -> list[memoryview]:
    """The bytes of each half-open (start, end) range of one object, in the order given.

    Close ranges share a GET; the result views slice the GET's buffer (no copies). Every
    range must lie inside the object: a shorter answer is an error, not a truncation.
    `version`, the object's when its header was read: every answer must come from it
    (else `ObjectChangedError`, see `_check_version`), so a file replaced after it was
    indexed is never read at the old header's offsets, nor its new pixels under the old
    metadata.
    """
    if len(ranges) == 0:
        return []
    store, key, parsed = stores().resolve(url, options)
    arr = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    starts, ends = arr[:, 0], arr[:, 1]
    if np.any(ends < starts) or np.any(starts < 0):
        raise ValueError(f"invalid byte ranges for {safe_url(parsed.url)}")
    need = int(ends.max())
    if _use_whole_object(parsed, store):
        body, found = await _whole_object(store, key, parsed, need, version)
        _check_version(found, version, parsed.url, None)
        return _slices(body, starts, ends, parsed.url)
    cfg = _config
    get_start, get_end, get_of = merge_ranges(starts, ends, cfg.gap, cfg.max_merge)
    try:
        gets = zip(get_start.tolist(), get_end.tolist(), strict=True)
        buffers = await gather_or_cancel(
            [_get_range(store, key, parsed, s, e, version) for s, e in gets]
        )
    except _RangeNotSupported:
        _whole.ignored_range(parsed.root)
        body, found = await _whole_object(store, key, parsed, need, version)
        _check_version(found, version, parsed.url, None)
        return _slices(body, starts, ends, parsed.url)
    return [
        buffers[g][s - get_start[g] : e - get_start[g]]
        for s, e, g in zip(starts.tolist(), ends.tolist(), get_of.tolist(), strict=True)
    ]


def _slices(body: memoryview, starts: np.ndarray, ends: np.ndarray, url: str) -> list[memoryview]:
    if len(ends) and int(ends.max()) > len(body):
        raise OutsideObjectError(
            f"range past the end of the object ({len(body)} bytes)",
            url=url,
            byte_range=(int(starts.min()), int(ends.max())),
        )
    return [body[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


async def read_many(
    requests: Sequence[tuple[URLLike, Sequence[tuple[int, int]]]],
    *,
    options: Mapping[str, Any] | None = None,
) -> list[list[memoryview]]:
    """`read_ranges` for many objects at once, all concurrently under the one limit."""
    return await gather_or_cancel([read_ranges(u, r, options=options) for u, r in requests])


async def read_head(
    url: URLLike, length: int, *, options: Mapping[str, Any] | None = None
) -> tuple[bytes, ObjectVersion]:
    """The first `length` bytes of an object (fewer if it is shorter) and its version (total
    size, ETag, Last-Modified), in one request."""
    store, key, parsed = stores().resolve(url, options)
    if _use_whole_object(parsed, store):
        body, version = await _whole_object(store, key, parsed, length)
        return bytes(body[:length]), version

    async def get() -> tuple[bytes, ObjectVersion]:
        _count(1, 0)
        try:
            data, version = await _head(store, key, length)
        except Exception as exc:
            raise _classify(exc, parsed, (0, length)) from exc
        _count(0, len(data))
        if len(data) != min(length, version.size):
            raise _Retryable(
                FetchError(f"short body: {len(data)} bytes", url=parsed.url, byte_range=(0, length))
            )
        if parsed.kind == "local":
            # A local file's ETag (object_store: inode-mtime-size) changes with a copy that
            # keeps the mtime (`rsync -a`, `cp -p`, a FUSE remount of a bucket, another node's
            # copy at the same path): its size and mtime name its version, as for rsync.
            version = version._replace(etag=None)
        return data, version

    try:
        return await _with_retries(get, parsed.url, (0, length))
    except OutsideObjectError:
        return b"", ObjectVersion(0)  # a range from byte 0 is outside only an empty object
    except _RangeNotSupported:
        _whole.ignored_range(parsed.root)
        body, version = await _whole_object(store, key, parsed, length)
        return bytes(body[:length]), version


__all__ = [
    "FetchConfig",
    "FetchStats",
    "ObjectVersion",
    "OutsideObjectError",
    "StatsRecorder",
    "URLLike",
    "config",
    "configure",
    "is_not_found",
    "merge_ranges",
    "read_head",
    "read_many",
    "read_ranges",
    "recording",
    "run_read",
    "same_version",
    "stats",
]
