"""A process's first read, prepared ahead: what it would build on its critical path.

The first read of a process builds, before its first GET leaves: PROJ's transformers from
the target CRS to the records' (planning a warp; pyproj keeps one PROJ object per thread,
and reads plan on cogdex's event loop thread; the first on a thread costs ~5 ms) and the
obstore store of each origin (its HTTP client, ~4 ms); and while the GETs leave,
imagecodecs' modules for the codec and predictor (~5 ms, holding the GIL that sending
needs).

`prepare_reads` builds them on the event loop and decode threads while the caller goes
on (builds a dataset, draws its first chips): PROJ, obstore's client and the imports
release the GIL for most of their time, so they cost the caller's thread little. A read
that comes sooner waits behind the loop's part. Nothing is requested, except where the
read's own store would ask (an S3 bucket without a `region` option asks for its region).
A fork waits for a preparation in flight (see `_settle`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cogdex.crs import normalise_crs, same_crs, transformer
from cogdex.index.band import BandSource
from cogdex.io import runtime
from cogdex.io.stores import stores
from cogdex.tiff import codecs

SETTLE_TIMEOUT = 10.0
"""Seconds a fork waits at most for preparations in flight."""

_pending: set[concurrent.futures.Future[None]] = set()
_pending_lock = threading.Lock()


def prepare_reads(
    sources: Sequence[BandSource], crs: int | str | None = None
) -> concurrent.futures.Future[None]:
    """Build, without waiting for it, what the first read of `sources` onto grids in `crs`
    needs on its path: the store of every origin of the records, the transformers from
    `crs` (None: none) to the record CRSs on the event loop thread, and the imagecodecs
    modules of their codecs and predictors. The Future is done when all are; an error it
    holds is the read's to meet and raise (nothing here is needed for a read to work)."""
    target = None if crs is None else normalise_crs(crs)

    async def build() -> None:
        loop = asyncio.get_running_loop()
        side = loop.run_in_executor(runtime.decode_pool(), _load_codecs, sources)
        try:
            if target is not None:
                for other in _record_crss(sources):
                    if not same_crs(other, target):
                        # A first use on this thread builds its PROJ object (any point).
                        transformer(target, other).transform(0.0, 0.0)
            for href, options in _origins(sources):
                stores().resolve(href, options)
        finally:
            await side

    future = asyncio.run_coroutine_threadsafe(build(), runtime.event_loop())
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_done)
    return future


def _done(future: concurrent.futures.Future[None]) -> None:
    with _pending_lock:
        _pending.discard(future)


def _settle() -> None:
    """Before a fork: wait for preparations in flight. A thread forked in the middle of an
    import leaves the module's import lock held in the child, which would hang there at its
    first decode (DataLoader workers fork right after their dataset is made)."""
    with _pending_lock:
        waiting = list(_pending)
    concurrent.futures.wait(waiting, timeout=SETTLE_TIMEOUT)


os.register_at_fork(before=_settle)


def _origins(sources: Sequence[BandSource]) -> list[tuple[str, Mapping[str, Any]]]:
    """One href per scheme, host (bucket, account) and store options of the sources: the
    store registry builds one store per origin, this asks it once for each."""
    found: dict[tuple[str, int], tuple[str, Mapping[str, Any]]] = {}
    for src in sources:
        for href in src.hrefs:
            scheme, sep, rest = href.partition("://")
            prefix = f"{scheme}://{rest.split('/', 1)[0]}" if sep else ""
            found.setdefault((prefix, id(src.store_options)), (href, src.store_options))
    return list(found.values())


def _record_crss(sources: Sequence[BandSource]) -> list[int | str]:
    """The distinct CRSs of the sources' records, as grids carry them."""
    found: set[int | str] = set()
    for src in sources:
        epsg = np.asarray(src.epsg, np.int64)
        found.update(int(code) for code in np.unique(epsg[epsg != 0]))
        found.update(normalise_crs(src.crs[i]) for i in np.flatnonzero(epsg == 0).tolist())
    return sorted(found, key=str)


def _load_codecs(sources: Sequence[BandSource]) -> None:
    """imagecodecs' modules for each (compression, predictor) of the sources' levels."""
    for src in sources:
        if not len(src):
            continue
        kinds = np.stack([src.levels["compression"], src.levels["predictor"]], axis=1)
        _, first = np.unique(kinds, axis=0, return_index=True)
        for lv in first.tolist():
            i = int(np.searchsorted(src.level_start, lv, side="right")) - 1
            codecs.load(src.level(i, lv - int(src.level_start[i])), src.header(i).byte_order)


__all__ = ["SETTLE_TIMEOUT", "prepare_reads"]
