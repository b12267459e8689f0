"""Per-process runtime: the obstore module, the event loop of the sync facade, the decode pool.

None of these may cross a fork. Python threads do not survive `fork()`, so the event-loop
thread and the thread pools are created lazily per PID.

The fork workaround for obstore, fenced here (`obstore()`, `is_obstore_error`):
- Why: obstore's tokio runtime is a process-wide static whose worker threads vanish in a
  forked child; tokio does not support `fork()` after a runtime has started
  (tokio-rs/tokio#4301), and obstore only detects a forked PID (developmentseed/obstore PR
  #214). With obstore 0.12.1 a child forked after its parent read hangs on its first
  request. So a child forked from a process that had loaded obstore loads a private copy of
  obstore's extension module: fresh statics, hence a fresh runtime.
- Cost: 10-30 ms and a 15 MB copy of the module (written to a temporary file, mapped,
  unlinked) once per forked worker. The copy's exception classes are other objects than
  `obstore.exceptions`' (so errors are matched by module path and name in
  `is_obstore_error`), and its stores are other types (so stores are built per PID from
  `obstore()`, see stores.py).
- Covered by: tests/io/test_runtime_fork.py (reads and error classes in `fork` children
  after the parent read) and tests/adapters/test_torchgeo_workers.py (a `fork` DataLoader
  with `num_workers=2` after the parent read).
- Delete it when obstore's runtime survives `fork()` (re-created per PID in the child):
  then `obstore()` is `import obstore`, and `is_obstore_error` is `isinstance`.
  `forkserver` and `spawn` workers never need it; benchmarks/worker_start.py measures what
  they cost instead (docs/data-plane.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Coroutine
from types import ModuleType
from typing import Any, Literal

_lock = threading.Lock()
_pid = os.getpid()
_inherited_obstore = False  # set in a forked child whose parent had obstore loaded
_obstore: ModuleType | None = None
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_io_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _after_fork_in_child() -> None:
    global _pid, _inherited_obstore, _obstore, _loop, _loop_thread, _pool, _io_pool, _lock
    _pid = os.getpid()
    _inherited_obstore = _inherited_obstore or "obstore._obstore" in sys.modules
    _obstore = None
    _loop = _loop_thread = _pool = _io_pool = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def obstore() -> ModuleType:
    """obstore's extension module for this process (a private copy in forked children)."""
    global _obstore
    if _obstore is None:
        with _lock:
            if _obstore is None:
                _obstore = _load_private_obstore() if _inherited_obstore else _import_obstore()
    return _obstore


def _import_obstore() -> ModuleType:
    import obstore._obstore as mod  # the package import also sets up obstore.store

    return mod


def _load_private_obstore() -> ModuleType:
    import obstore._obstore as inherited

    origin = inherited.__file__
    assert origin is not None
    tmpdir = tempfile.mkdtemp(prefix="cogdex-obstore-")
    try:
        copy = os.path.join(tmpdir, os.path.basename(origin))
        shutil.copyfile(origin, copy)
        spec = importlib.util.spec_from_file_location("obstore._obstore", copy)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a private copy of {origin}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)  # the mapping outlives the file
    return module


ObstoreErrorName = Literal[
    "NotFoundError", "NotSupportedError", "PermissionDeniedError", "UnauthenticatedError"
]
"""The `obstore.exceptions` classes cogdex tells apart (tests/io/test_runtime_fork.py checks
that obstore still defines each)."""


def is_obstore_error(exc: BaseException, name: ObstoreErrorName) -> bool:
    """Whether `exc` is an instance of `obstore.exceptions.<name>`, raised by any copy of
    obstore's module: a private copy's classes are other objects with the same module path
    and name, so those are compared instead of class identity."""
    return any(
        cls.__module__ == "obstore.exceptions" and cls.__name__ == name for cls in type(exc).__mro__
    )


def _loop_main(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    ready.set()
    loop.run_forever()


def event_loop() -> asyncio.AbstractEventLoop:
    """The background event loop that runs this process's sync calls."""
    global _loop, _loop_thread
    if _loop is None:
        with _lock:
            if _loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_loop_main, args=(loop, ready), name="cogdex-io", daemon=True
                )
                thread.start()
                ready.wait()
                _loop, _loop_thread = loop, thread
    return _loop


class RunTimedOut(TimeoutError):
    """`run`'s coroutine was still running at its timeout (and has been cancelled)."""


def run[T](coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run `coro` to completion from synchronous code and return its result.

    Works with or without a running loop in the calling thread (Jupyter), because the
    coroutine runs on cogdex's own loop thread. Past `timeout` seconds the coroutine is
    cancelled and `RunTimedOut` raised.
    """
    loop = event_loop()
    if threading.current_thread() is _loop_thread:
        coro.close()
        raise RuntimeError(
            "cogdex's sync API was called from its own event loop; await the async API"
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        if timeout is not None and not concurrent.futures.wait([future], timeout).done:
            raise RunTimedOut(timeout)  # cancelled below; the coroutine's errors stay its own
        return future.result()
    except BaseException:
        future.cancel()
        raise


def io_pool(size: int) -> concurrent.futures.ThreadPoolExecutor:
    """The threads that wait on obstore's blocking calls (at most `size` at once).

    cogdex calls obstore's synchronous API from these threads rather than its async API:
    obstore's async futures drop Python references on tokio threads after completion, and
    when that races with interpreter shutdown the process aborts (seen in ~1 of 4 short-lived
    processes). Blocking calls keep every Python object on Python threads.
    """
    global _io_pool
    if _io_pool is None or _io_pool._max_workers != size:
        with _lock:
            if _io_pool is None or _io_pool._max_workers != size:
                _io_pool = concurrent.futures.ThreadPoolExecutor(
                    size, thread_name_prefix="cogdex-io"
                )
    return _io_pool


def start_io_threads(size: int, count: int) -> None:
    """Start `count` threads of the I/O pool of `size` (`io_pool`) now, idle until GETs come.

    A `ThreadPoolExecutor` starts a thread at the `submit` that finds none idle, and that
    `submit` waits until the thread runs: a process's first read would send each of its
    GETs only after a thread start (and two GIL hand-overs) on the event loop. The pool has
    no call to start threads: `count` jobs that wait until all are submitted make it start
    as many (idle threads take their share first; never more than `size` in all)."""
    pool = io_pool(size)
    submitted = threading.Event()
    for _ in range(min(count, size)):
        pool.submit(submitted.wait, 1.0)  # the timeout: only if this thread dies meanwhile
    submitted.set()


def decode_threads() -> int:
    """Threads of the decode pool: COGDEX_DECODE_THREADS, else one per CPU."""
    return int(os.environ.get("COGDEX_DECODE_THREADS", 0)) or (os.cpu_count() or 1)


def decode_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The thread pool that decodes tiles (imagecodecs releases the GIL)."""
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = concurrent.futures.ThreadPoolExecutor(
                    decode_threads(), thread_name_prefix="cogdex-decode"
                )
    return _pool


__all__ = [
    "ObstoreErrorName",
    "RunTimedOut",
    "decode_pool",
    "decode_threads",
    "event_loop",
    "io_pool",
    "is_obstore_error",
    "obstore",
    "run",
    "start_io_threads",
]
