"""cogdex: open 48 COGs (12 scenes x 4 bands) and read one AOI window from each, cold process.

Every file is opened (one header request) and read (one coalesced tile request) concurrently;
windows are computed exactly as rasterio's `from_bounds(...).round_offsets().round_lengths()`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import aoi, digest, jobs, report

import cogdex
from cogdex.io import fetch


def window(tif, transformers: dict) -> tuple[int, int, int, int]:
    from pyproj import Transformer

    key = tif.epsg or tif.crs.to_wkt()
    if key not in transformers:
        transformers[key] = Transformer.from_crs(4326, tif.crs, always_xy=True)
    left, bottom, right, top = transformers[key].transform_bounds(*aoi(), densify_pts=21)
    a, _, c, _, e, f = tif.transform
    col = math.floor((left - c) / a + 0.1)
    row = math.floor((top - f) / e + 0.1)
    return col, row, math.floor((right - left) / a + 0.5), math.floor((bottom - top) / e + 0.5)


async def main(paths: list[str]) -> list:
    transformers: dict = {}

    async def one(path: str):
        tif = await cogdex.open_async(path)
        return (await tif.read_async(window=window(tif, transformers)))[0]

    return await asyncio.gather(*(one(p) for p in paths))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--local", action="store_true", help="read the files from LAB_DATA directly")
    a = ap.parse_args()
    paths = jobs(os.environ["LAB_DATA"] if a.local else None)
    with fetch.recording() as rec:
        arrays = asyncio.run(main(paths))
    report(
        tool=f"cogdex {cogdex.__version__}",
        files=len(arrays),
        shape=list(arrays[0].shape),
        digest=digest(arrays),
        requests=rec.requests,
        bytes=rec.bytes,
    )
