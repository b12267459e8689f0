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

The exit fence for obstore's async API, fenced here (`obstore_future`, `_Loop`, `settle`):
- Why: obstore's async calls complete on tokio threads, which take the GIL to hand the
  result to the loop (pyo3-async-runtimes' `set_result`: `loop.call_soon_threadsafe`, whose
  self-pipe write releases the GIL and takes it back). A tokio thread that wants the GIL
  once interpreter finalization has begun is ended by CPython with `pthread_exit`, which
  cannot unwind through Rust frames: the process aborts (SIGABRT). That happens to a call
  still in flight at exit (or cancelled: its Rust task takes the GIL later to see so), and
  even to one already awaited, whose tokio thread is still inside the hand-over when the
  main thread exits (~1 in 12 short processes here; gdb: `take_gil` -> `pthread_exit` ->
  `abort` under `pyo3_async_runtimes::generic::set_result`). Upstream:
  PyO3/pyo3-async-runtimes#40 (open: no shutdown API); Python 3.14 hangs such threads
  instead of ending them.
- The fence: obstore's futures are awaited only on cogdex's own loop, through
  `obstore_future`, which never cancels them (a cancelled caller leaves the call to finish)
  and keeps them in `_in_flight`; the loop counts the threads inside its
  `call_soon_threadsafe`. An `atexit` hook (run before finalization) waits until no future
  is pending and no thread is inside the hand-over.
- Pays: the 48 header GETs of the index-build scenario take 70-78 ms through `get_async`
  against 89-116 ms as blocking calls on 48 I/O threads, whose results come back one GIL
  hand-off at a time (the floor: 70 ms; docs/benchmarks.md, 2026-12-06 (night)). The 96
  range GETs of a cold get-numpy go out at once instead of over 20-100 ms, and the process
  spends 29-59 ms less CPU (docs/benchmarks.md, 2026-12-06 (late)).
- Covered by: tests/io/test_runtime_exit.py (an exit right after an awaited call, with the
  hand-over slowed down, aborts without the fence and not with it; range reads start no
  I/O thread).
- Delete it when pyo3-async-runtimes offers a shutdown that waits for its hand-overs (or
  cogdex needs Python >= 3.14 only).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import ModuleType
from typing import Any, Literal

_lock = threading.Lock()
_pid = os.getpid()
_inherited_obstore = False  # set in a forked child whose parent had obstore loaded
_obstore: ModuleType | None = None
_loop: _Loop | None = None
_loop_thread: threading.Thread | None = None
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_io_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _after_fork_in_child() -> None:
    global _pid, _inherited_obstore, _obstore, _loop, _loop_thread, _pool, _io_pool, _lock
    _pid = os.getpid()
    _inherited_obstore = _inherited_obstore or "obstore._obstore" in sys.modules
    _obstore = None
    _loop = _loop_thread = _pool = _io_pool = None
    _in_flight.clear()  # the parent's futures and loop stay behind
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
    "NotFoundError",
    "NotModifiedError",
    "NotSupportedError",
    "PermissionDeniedError",
    "UnauthenticatedError",
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


class _Loop(asyncio.SelectorEventLoop):
    """cogdex's event loop: counts the threads inside `call_soon_threadsafe`, where
    obstore's tokio threads hand results over (see the exit fence above).

    The count needs no lock: CPython (with the GIL) switches threads only at a call's end,
    a backward jump or a function's start, never inside `self.n += 1` on a plain int, so
    two threads cannot lose an update; a lock's release would itself be such a switch
    point after the decrement.
    """

    handing_over = 0

    def call_soon_threadsafe(  # type: ignore[override]  # the same call, typed loosely
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        self.handing_over += 1
        try:
            return super().call_soon_threadsafe(callback, *args, context=context)
        finally:
            # the last bytecode before the return to Rust (no call after it, so no GIL
            # switch): once the count is back, the thread needs the GIL no more
            self.handing_over -= 1


_in_flight: set[asyncio.Future[Any]] = set()
"""obstore futures not yet done (touched on the loop thread only)."""


def on_own_loop() -> bool:
    """Whether the running coroutine runs on cogdex's loop, where `obstore_future` may be
    used."""
    return _loop is not None and asyncio.get_running_loop() is _loop


async def obstore_future[T](awaitable: Awaitable[T]) -> T:
    """Await an obstore async call (made on cogdex's loop: see `on_own_loop`) without ever
    cancelling it: a cancelled caller leaves it to finish, so its tokio thread hands the
    result over while the interpreter is alive (`settle` waits for it at exit)."""
    future = asyncio.ensure_future(awaitable)
    if not future.done():
        _in_flight.add(future)
        future.add_done_callback(_landed)
    return await asyncio.shield(future)


def _landed(future: asyncio.Future[Any]) -> None:
    _in_flight.discard(future)
    if not future.cancelled():
        future.exception()  # retrieved: a caller that was cancelled never reads it


_DRAIN_LIMIT = 90.0
"""Seconds an exit waits for obstore calls in flight (their own timeout is 60 s)."""


def settle(limit: float = _DRAIN_LIMIT) -> bool:
    """Wait until no obstore future is pending and no tokio thread is inside the loop's
    hand-over (sleeping lets them have the GIL); False if `limit` seconds pass first.

    At exit, before finalization (the fence). Also what a test waits for before it reads a
    server's log: a cancelled read's calls land there after its caller had the error."""
    loop = _loop
    if loop is None:
        return True
    give_up = time.monotonic() + limit
    while (_in_flight or loop.handing_over) and time.monotonic() < give_up:
        time.sleep(0.001)
    return not (_in_flight or loop.handing_over)


atexit.register(settle)


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
                loop = _Loop()
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

    Requests made on another event loop than cogdex's call obstore's synchronous API from
    these threads, which keep every Python object on Python threads. Those made on cogdex's
    loop (header fetches, range reads) use its async API behind the exit fence instead
    (`obstore_future`), which saves the threads' start and GIL hand-offs.
    """
    global _io_pool
    if _io_pool is None or _io_pool._max_workers != size:
        with _lock:
            if _io_pool is None or _io_pool._max_workers != size:
                _io_pool = concurrent.futures.ThreadPoolExecutor(
                    size, thread_name_prefix="cogdex-io"
                )
    return _io_pool


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
    "obstore_future",
    "on_own_loop",
    "run",
    "settle",
]
