"""The decoded-tile cache: LRU bound, deduplication of concurrent loads, failure propagation."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from cogdex.read.tilecache import TileCache


def _tile(value: int, n: int = 16) -> np.ndarray:
    return np.full((n, n), value, np.uint16)  # 512 bytes


def test_lru_bound_and_read_only_tiles():
    cache = TileCache(max_bytes=3 * 512)

    async def run() -> None:
        claim = cache.claim(["a", "b", "c", "d"])
        assert claim.mine == ["a", "b", "c", "d"]
        for i, key in enumerate(claim.mine):
            cache.fill(key, _tile(i))
        assert len(cache) == 3 and cache.nbytes == 3 * 512  # "a" was evicted
        again = cache.claim(["a", "d"])
        assert again.mine == ["a"] and list(again.hits) == ["d"]
        with pytest.raises(ValueError, match="read-only"):
            again.hits["d"][0, 0] = 1
        cache.fill("a", _tile(0))

    asyncio.run(run())


def test_concurrent_readers_share_one_load_per_tile():
    cache = TileCache(max_bytes=1 << 20)
    loads: list[str] = []

    async def reader(keys: list[str]) -> list[int]:
        claim = cache.claim(keys)
        if claim.mine:
            loads.extend(claim.mine)
            await asyncio.sleep(0.01)  # the fetch + decode
            for key in claim.mine:
                cache.fill(key, _tile(ord(key)))
        tiles = {**claim.hits, **{k: await f for k, f in claim.waiting.items()}}
        tiles.update({k: cache.claim([k]).hits[k] for k in claim.mine})
        return [int(tiles[k][0, 0]) for k in keys]

    async def run() -> list[list[int]]:
        return await asyncio.gather(*(reader(["x", "y", "z"]) for _ in range(10)))

    results = asyncio.run(run())
    assert results == [[ord("x"), ord("y"), ord("z")]] * 10
    assert sorted(loads) == ["x", "y", "z"]  # each tile loaded once for 10 readers
    assert cache.misses == 3


def test_a_failed_load_reaches_every_waiting_reader_and_is_not_cached():
    cache = TileCache(max_bytes=1 << 20)

    async def run() -> None:
        first = cache.claim(["t"])
        second = cache.claim(["t"])
        assert first.mine == ["t"] and "t" in second.waiting
        cache.fail(first.mine, OSError("boom"))
        with pytest.raises(OSError, match="boom"):
            await second.waiting["t"]
        assert cache.claim(["t"]).mine == ["t"]  # nothing poisoned: the next reader retries

    asyncio.run(run())


def test_size_zero_keeps_deduplication_but_stores_nothing():
    cache = TileCache(max_bytes=0)

    async def run() -> None:
        assert cache.claim(["k"]).mine == ["k"]
        cache.fill("k", _tile(1))
        assert len(cache) == 0
        assert cache.claim(["k"]).mine == ["k"]

    asyncio.run(run())
