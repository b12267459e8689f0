"""A read's set-up, started on a thread before the read needs it.

The first read of a process pays for set-up that is neither network nor decode: the
reader's modules, pyproj and shapely, the plugins (a store asks them first), obstore and
its stores, the event loop and the thread pools. `prepare` starts that on a thread as soon
as a read is likely (a collection loaded from its cache, a read's inputs gathered), so it
overlaps the index load and the read's planning instead of following them.

Nothing here is needed for correctness: every step is the same lazy, idempotent call the
read makes itself, so a step that fails on the thread is left for the read to raise where
it happens (the same error, naming what it was doing), and a step still running when the
read needs it is waited for by its own lock, never done twice. A fork waits for the thread
(at most `FORK_WAIT` seconds): a child forked in the middle of an import would inherit that
module's import lock held by a thread that does not exist in it.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

FORK_WAIT = 10.0
"""Seconds a fork waits for a set-up thread of this process to finish."""

_PIXEL_MODULES = ("pyproj", "shapely", "cogdex.read.scenes", "cogdex.read.geometries")
"""What a pixel read imports that loading an index does not (cogdex.read.scenes brings the
planner, the reader, the warp and the fetch layer)."""

_lock = threading.Lock()
_threads: list[threading.Thread] = []
_modules: set[str] = set()  # imported or being imported by a set-up thread
_runtime = False  # the runtime is being set up
_roots: set[str] = set()  # roots whose store is built (with the first options asked)
_codecs: set[tuple[int, int]] = set()  # (compression, predictor) pairs loaded


def prepare(
    urls: Iterable[str] = (),
    options: Mapping[str, Any] | None = None,
    codecs: Iterable[tuple[int, int]] = (),
    *,
    pixels: bool = True,
) -> threading.Thread | None:
    """Start on a thread what a read will need and this process has not started yet: for a
    pixel read (`pixels`), its modules and the runtime; the stores of `urls`' roots (one
    per root) and the `codecs` ((compression, predictor) pairs) of the files. Returns the
    thread, or None when there was nothing left to start."""
    global _runtime
    from cogdex.io.urls import parse_url

    found: dict[str, str] = {}
    for url in urls:
        try:
            found.setdefault(parse_url(url).root, url)
        except Exception:  # the read raises it, naming the URL
            continue
    with _lock:
        modules = [m for m in _PIXEL_MODULES if pixels and m not in _modules]
        _modules.update(modules)
        runtime = pixels and not _runtime  # (a GeoTIFF's header fetch needs it at once)
        _runtime = _runtime or runtime
        wanted = [url for root, url in found.items() if root not in _roots]
        _roots.update(found)
        codes = set(codecs) - _codecs
        _codecs.update(codes)
        if not (modules or runtime or wanted or codes):
            return None
        thread = threading.Thread(
            target=_set_up, args=(modules, runtime, wanted, options, codes),
            name="cogdex-prepare", daemon=True,
        )  # fmt: skip
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
        thread.start()
    return thread


def _set_up(
    modules: list[str],
    runtime: bool,
    urls: list[str],
    options: Mapping[str, Any] | None,
    codecs: set[tuple[int, int]],
) -> None:
    """The steps; a failure ends the thread quietly (see the module docstring)."""
    try:
        if codecs:
            from cogdex.tiff.codecs import preload

            for compression, predictor in codecs:
                preload(compression, predictor)
        for module in modules:
            importlib.import_module(module)
        if runtime:
            from cogdex import plugins
            from cogdex.io import fetch
            from cogdex.io import runtime as rt

            plugins.plugin_manager()
            rt.obstore()
            rt.event_loop()
            rt.io_pool(fetch.config().max_concurrency)
            rt.decode_pool()
        from cogdex.io.stores import stores

        for url in urls:
            stores().resolve(url, options)
    except Exception:
        return


def wait(timeout: float | None = None) -> None:
    """Wait until every set-up thread of this process has finished (tests, forks)."""
    for thread in list(_threads):
        thread.join(timeout)


def _before_fork() -> None:
    wait(FORK_WAIT)


def _after_fork_in_child() -> None:
    global _lock, _runtime
    _lock = threading.Lock()
    _threads.clear()
    _modules.clear()
    _roots.clear()
    _codecs.clear()
    _runtime = False


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


__all__ = ["FORK_WAIT", "prepare", "wait"]
