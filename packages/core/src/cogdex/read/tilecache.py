"""A bounded, shared cache of decoded tiles, with deduplication of tiles being loaded.

Overlapping chips and later epochs ask for the same tiles again; keeping decoded tiles (not
bytes) saves both the request and the decode. Readers work in batches so that the tiles they
miss can still be fetched with coalesced requests: `claim` splits a batch into tiles already
cached, tiles another reader is loading (futures to await), and tiles this reader must load
and then `fill` (or `fail`). Cached arrays are read-only; size is bounded in bytes (LRU).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

TileKey = tuple[
    str, int, int, int, int, int, str | None, datetime | None, str, int, int, int, int,
    tuple[tuple[str, str], ...],
]  # fmt: skip
"""(url, IFD offset of the level, tile index, tile offset, byte count, file size, ETag,
Last-Modified, dtype, samples, planar configuration, tile width, tile height, reader): the
version of the file and the position and layout of a tile, so that a file rewritten in
place never serves a cached tile of its old version or of another shape (see
`cogdex.read.reader.tile_key`)."""


@dataclass
class Claim:
    """What `TileCache.claim` found for a batch of keys."""

    hits: dict[TileKey, np.ndarray] = field(default_factory=dict)
    waiting: dict[TileKey, asyncio.Future[np.ndarray]] = field(default_factory=dict)
    mine: list[TileKey] = field(default_factory=list)


class TileCache:
    """LRU of decoded tiles bounded by `max_bytes` (0 disables storage, not deduplication)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[TileKey, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self._loading: dict[TileKey, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def __len__(self) -> int:
        return len(self._tiles)

    def claim(self, keys: Iterable[TileKey]) -> Claim:
        """Sort `keys` into hits, tiles in flight elsewhere, and tiles the caller loads.

        Must be called from a running event loop: the caller's claimed keys become futures
        that other readers on the same loop await until `fill`/`fail`.
        """
        loop = asyncio.get_running_loop()
        claim = Claim()
        mine: set[TileKey] = set()
        with self._lock:
            for key in keys:
                tile = self._tiles.get(key)
                if tile is not None:
                    self._tiles.move_to_end(key)
                    claim.hits[key] = tile
                    continue
                pending = self._loading.get(key)
                if pending is not None and pending[0] is loop:
                    claim.waiting[key] = pending[1]
                    continue
                if key in mine:
                    continue
                mine.add(key)
                self._loading[key] = (loop, loop.create_future())
                claim.mine.append(key)
            self.hits += len(claim.hits) + len(claim.waiting)
            self.misses += len(claim.mine)
        return claim

    def fill(self, key: TileKey, tile: np.ndarray) -> np.ndarray:
        """Store a tile the caller loaded and wake the readers waiting for it."""
        tile.setflags(write=False)
        with self._lock:
            pending = self._loading.pop(key, None)
            if self.max_bytes and tile.nbytes <= self.max_bytes and key not in self._tiles:
                self._tiles[key] = tile
                self._nbytes += tile.nbytes
                while self._nbytes > self.max_bytes:
                    _, old = self._tiles.popitem(last=False)
                    self._nbytes -= old.nbytes
        if pending is not None and not pending[1].done():
            pending[1].set_result(tile)
        return tile

    def fail(self, keys: Iterable[TileKey], error: BaseException) -> None:
        """The caller could not load these tiles: waiting readers get the same error."""
        with self._lock:
            pending = [self._loading.pop(k, None) for k in keys]
        for item in pending:
            if item is not None and not item[1].done():
                item[1].set_exception(error)
                item[1].exception()  # mark retrieved: nobody may be waiting

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._nbytes = 0


def _default_bytes() -> int:
    return int(float(os.environ.get("COGDEX_TILE_CACHE_MB", "512")) * 1024 * 1024)


_caches: dict[int, TileCache] = {}


def tile_cache() -> TileCache:
    """This process's tile cache (each forked or spawned worker starts its own)."""
    pid = os.getpid()
    cache = _caches.get(pid)
    if cache is None:
        _caches.clear()
        cache = _caches[pid] = TileCache(_default_bytes())
    return cache


def configure_tile_cache(max_mb: float) -> TileCache:
    """Resize this process's tile cache (0 turns caching off)."""
    cache = tile_cache()
    cache.max_bytes = int(max_mb * 1024 * 1024)
    if cache.max_bytes == 0:
        cache.clear()
    return cache


__all__ = [
    "Claim",
    "TileCache",
    "TileKey",
    "configure_tile_cache",
    "tile_cache",
]
