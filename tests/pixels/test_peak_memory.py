"""get_numpy's memory: the peak of a read stays near its output, and `max_memory` guards the
estimated peak, not only the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import shapely

from cogdex.errors import MemoryLimitError
from tests.servers.scenes import SceneSet

MiB = 1 << 20
THREADS = 2
# One read in a fresh process (no tile cache, two decode threads): its tracemalloc peak
# (numpy registers its buffers), the nbytes of the output and of one band of one image, and
# what the guard estimates for it.
_CHILD = """
import json, sys, tracemalloc
import numpy as np, shapely
import cogdex
from cogdex.read.plan import plan_slots
from cogdex.read.scenes import estimate_peak, output_dtype, plan

location, block, crs, merge, rows = json.loads(sys.argv[1])
if rows:
    import cogdex.read.scenes
    cogdex.read.scenes.REDUCE_ROWS = rows
coll = cogdex.load(location)
kwargs = dict(geometry_crs=32643, crs=crs, resolution=10.0, merge=merge, group_by=None)
area = shapely.box(*block)
coll.get_numpy(shapely.box(*block[:2], block[0] + 200, block[1] + 200), ["B04", "B08"], **kwargs)
table, sources = coll.read_inputs(["B04", "B08"])
slots = plan_slots(table, sources, area, **kwargs).slots
dtype = output_dtype(sources)
pieces = plan(slots, sources, resampling="nearest", fill=0.0)
estimate = estimate_peak(slots, pieces, len(sources), dtype, merge or "first")[1]
tracemalloc.start()
out = coll.get_numpy(area, ["B04", "B08"], max_memory=None, **kwargs)
n = max(len(s.rows) for s in slots)
print(json.dumps([tracemalloc.get_traced_memory()[1], out.nbytes, out[0, 0].nbytes, estimate, n]))
"""


def _peak(coll, scenes: SceneSet, crs: int, merge: str | None, rows: int = 0) -> list[int]:
    """[tracemalloc peak, output nbytes, one band's nbytes, the guard's estimate, records
    merged into one image] of one read in a fresh process (`rows`: `REDUCE_ROWS` there)."""
    arg = json.dumps([str(coll.location), _block(scenes), crs, merge, rows])
    env = {**os.environ, "COGDEX_TILE_CACHE_MB": "0", "COGDEX_DECODE_THREADS": str(THREADS)}
    done = subprocess.run([sys.executable, "-c", _CHILD, arg], env=env, capture_output=True,
                          text=True, check=True, timeout=300)  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def _block(scenes: SceneSet) -> list[float]:
    """A block of the western (EPSG:32643) tile that no eastern scene covers."""
    left, bottom, right, top = next(s for s in scenes.scenes if s.epsg == 32643).bounds
    w, h = right - left, top - bottom
    return [left + 0.02 * w, bottom + 0.05 * h, left + 0.38 * w, top - 0.05 * h]


@pytest.mark.parametrize("merge", [None, "first"])
@pytest.mark.parametrize("crs", [32643, 32644], ids=["aligned", "warped"])
def test_peak_stays_near_the_output(pixel_coll, scenes, crs, merge):
    """Windows decode into the output or merge as they arrive: the peak is the output, its
    mask (and the record ranks of a merge), and what the decode threads have in flight,
    whatever the number of records; the guard's estimate covers it."""
    peak, nbytes, band, estimate, _ = _peak(pixel_coll, scenes, crs, merge)
    in_flight = 2 * THREADS * 3 * band  # windows filling or warping: source, warped, masks
    assert peak <= 2 * nbytes + in_flight + 4 * MiB, (peak / nbytes, nbytes, band)
    assert peak <= estimate, (peak, estimate)


@pytest.mark.parametrize("merge", ["mean", "median"])
def test_a_reducing_merge_holds_its_records_not_a_float64_stack_of_them(pixel_coll, scenes, merge):
    """min/max/mean/median hold each record's window until the last arrives (native values
    and a mask), but stack them as float64 only one block of rows at a time."""
    peak, nbytes, band, estimate, n = _peak(pixel_coll, scenes, 32644, merge)
    assert n >= 3  # several records merged into one image
    in_flight = 2 * THREADS * 3 * band
    held = n * nbytes * 3 // 2  # each record's window of every band, with its mask
    assert peak <= nbytes * 3 // 2 + held + in_flight + 4 * MiB, (peak / nbytes, n)
    assert peak <= estimate, (peak, estimate)


def test_max_memory_covers_the_peak_not_only_the_output(pixel_coll, scenes):
    """A merged read of four records into one image: the output fits, the records merged
    into it do not."""
    area = shapely.box(*_block(scenes))
    kwargs = dict(geometry_crs=32643, crs=32644, merge="first", group_by=None)
    out = pixel_coll.get_numpy(area, ["B04", "B08"], max_memory=None, **kwargs)
    with pytest.raises(MemoryLimitError, match="windows in flight"):
        pixel_coll.get_numpy(area, ["B04", "B08"], max_memory=out.nbytes * 3 // 2, **kwargs)
