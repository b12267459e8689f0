"""The floor plus the transfer: `window_read_floor.py` that also moves the bytes.

The floor's imports, then the very bytes cogdex fetches, through the same lab proxy, with
obstore's own async API: per file, one GET per run of tiles closer than cogdex's merge gap
(2 per file in get-numpy: 96 GETs, 63.9 MB; one GET spanning each file's tiles would move
96 MB), every GET of every file at once, each tile decoded on the decode pool as soon as
its GET lands. What separates it from the floor is what moving ~64 MB through a Python
latency proxy costs on the same cores; what separates cogdex from it is cogdex's own work.
Locating the tiles (local header parse) is preparation, reported as `prep_s`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np
import obstore
import pyproj  # noqa: F401  (as the floor: any reader of these files needs it)
from common import jobs, report_floor
from window_read_floor import tile_ranges

from cogdex.io import fetch, runtime
from cogdex.read import geotiff  # noqa: F401
from cogdex.tiff import header  # noqa: F401


async def fetch_and_decode(base: str, work: list[tuple[str, list[tuple[int, int]], object]]):
    """Every tile of every file, decoded, in the order of `work`."""
    store = obstore.store.HTTPStore.from_url(base, client_options={"allow_http": True})
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()
    cfg = fetch.config()

    async def one_get(key: str, start: int, end: int, tiles: list[tuple[int, int]], decode):
        data = memoryview(await obstore.get_range_async(store, key, start=start, end=end))
        return await asyncio.gather(
            *(
                loop.run_in_executor(pool, decode, data[off - start : off - start + size])
                for off, size in tiles
            )
        )

    async def one_file(key: str, ranges: list[tuple[int, int]], decode) -> list:
        starts = np.array([off for off, _ in ranges], np.int64)
        ends = starts + np.array([size for _, size in ranges], np.int64)
        get_start, get_end, get_of = fetch.merge_ranges(starts, ends, cfg.gap, cfg.max_merge)
        per_get: list[list[tuple[int, int]]] = [[] for _ in get_start]
        for (off, size), g in zip(ranges, get_of.tolist(), strict=True):
            per_get[g].append((off, size))
        parts = await asyncio.gather(
            *(
                one_get(key, int(s), int(e), t, decode)
                for s, e, t in zip(get_start, get_end, per_get, strict=True)
            )
        )
        by_offset = {off: tile for tiles, got in zip(per_get, parts, strict=True)
                     for (off, _), tile in zip(tiles, got, strict=True)}  # fmt: skip
        return [by_offset[off] for off, _ in ranges]

    files = await asyncio.gather(*(one_file(key, r, d) for key, r, d in work))
    return [tile for tiles in files for tile in tiles]


if __name__ == "__main__":
    local = jobs(os.environ["LAB_DATA"])
    base = os.environ["LAB_HTTP_URL"]
    t, cpu = time.perf_counter(), time.process_time()
    work = []
    for path, url in zip(local, jobs(), strict=True):
        ranges, decode = tile_ranges(path)
        work.append((url.removeprefix(base + "/"), ranges, decode))
    prep, prep_cpu = time.perf_counter() - t, time.process_time() - cpu
    tiles = asyncio.run(fetch_and_decode(base, work))
    report_floor("floor + transfer", tiles, prep, prep_cpu)
