"""The floor of the window-read scenario: what no reader can avoid.

Interpreter start + imports + one round trip to the server + decoding, on all cores, the same
tiles cogdex decodes, from memory. The imports are those any reader of these files needs: an
HTTP client, a CRS library (the AOI is in lon/lat), the TIFF parser and decoders. Locating
the tiles (local header parse, reading their bytes from the page cache) is preparation,
timed and reported as `prep_s` so the runner subtracts it from the process wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import obstore  # noqa: F401  (imported here, not in the preparation that is subtracted)
import pyproj  # noqa: F401
from common import jobs, report_floor
from window_read_cogdex import window

import cogdex
from cogdex.io import fetch, runtime
from cogdex.read import geotiff  # noqa: F401
from cogdex.read.plan import plan_window
from cogdex.read.window import Window
from cogdex.tiff import codecs, header  # noqa: F401


def tile_ranges(path: str) -> tuple[list[tuple[int, int]], object]:
    """The (offset, size) of every tile cogdex decodes for the AOI window of one file, in
    its plan's order, and the file's decoder."""
    tif = cogdex.open(path)
    level = tif.header.base
    plan = plan_window(level, Window(*window(tif, {})), [0])
    ranges = [
        (int(level.tile_offsets[i]), int(level.tile_byte_counts[i]))
        for i in plan.index[~plan.sparse]
    ]
    return ranges, codecs.decoder(level, tif.header.byte_order)


def tile_bytes(path: str) -> tuple[list[bytes], object]:
    ranges, decode = tile_ranges(path)
    with open(path, "rb") as f:
        datas = [os.pread(f.fileno(), size, offset) for offset, size in ranges]
    return datas, decode


async def decode_all(work: list[tuple[list[bytes], object]]) -> list:
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()
    return await asyncio.gather(
        *(loop.run_in_executor(pool, dec, d) for datas, dec in work for d in datas)
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--local", action="store_true", help="no network: skip the round trip")
    a = ap.parse_args()
    local = jobs(os.environ["LAB_DATA"])
    t, cpu = time.perf_counter(), time.process_time()
    work = [tile_bytes(p) for p in local]
    prep, prep_cpu = time.perf_counter() - t, time.process_time() - cpu
    if not a.local:
        runtime.run(fetch.read_head(jobs()[0], 16))  # one round trip on a fresh connection
    tiles = runtime.run(decode_all(work))
    report_floor("floor", tiles, prep, prep_cpu)
