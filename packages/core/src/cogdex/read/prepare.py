"""The codecs of a read, loaded on a thread while its first requests are in flight.

imagecodecs loads each codec's extension module on first use (2-8 ms for deflate and the
horizontal predictor), which the first tile of a process would pay after its bytes land.
`preload_codecs` starts that on a thread as a read sends its requests, when the event loop
and the caller's thread only wait on the network, so the load costs no time of the read.

Only waits on the network are worth overlapping: the rest of a read's set-up (imports of
the reader, pyproj, shapely, the plugins, obstore) holds the GIL, so a thread doing it
while the caller plans the read slowed the first request (measured in docs/benchmarks.md).

A failure here is left for the read to raise: it builds the same decoder itself. A fork
waits for the thread (at most `FORK_WAIT` seconds): a child forked in the middle of an
import inherits that module's lock held by a thread that does not exist in it, and hangs
on its first use of the codec.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

FORK_WAIT = 10.0
"""Seconds a fork waits for a preloading thread of this process to finish."""

_lock = threading.Lock()
_threads: list[threading.Thread] = []
_loaded: set[tuple[int, int]] = set()  # (compression, predictor) pairs loaded or loading


def preload_codecs(codecs: Iterable[tuple[int, int]]) -> threading.Thread | None:
    """Start loading, on a thread, the codecs of these (compression, predictor) pairs that
    this process has not loaded yet; returns the thread, or None when none was left."""
    with _lock:
        todo = set(codecs) - _loaded
        if not todo:
            return None
        _loaded.update(todo)
        thread = threading.Thread(target=_load, args=(todo,), name="cogdex-codecs", daemon=True)
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
        thread.start()
    return thread


def _load(codecs: set[tuple[int, int]]) -> None:
    from cogdex.tiff.codecs import preload

    for compression, predictor in sorted(codecs):
        try:
            preload(compression, predictor)
        except Exception:  # the read builds the decoder itself and raises it there
            continue


def wait(timeout: float | None = None) -> None:
    """Wait until every preloading thread of this process has finished (tests, forks)."""
    for thread in list(_threads):
        thread.join(timeout)


def _before_fork() -> None:
    wait(FORK_WAIT)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _threads.clear()
    _loaded.clear()  # a load the parent had not finished is the child's to do


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


__all__ = ["FORK_WAIT", "preload_codecs", "wait"]
