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

location, block, crs, merge = json.loads(sys.argv[1])
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
print(json.dumps([tracemalloc.get_traced_memory()[1], out.nbytes, out[0, 0].nbytes, estimate]))
"""


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
    arg = json.dumps([str(pixel_coll.location), _block(scenes), crs, merge])
    env = {**os.environ, "COGDEX_TILE_CACHE_MB": "0", "COGDEX_DECODE_THREADS": str(THREADS)}
    done = subprocess.run([sys.executable, "-c", _CHILD, arg], env=env, capture_output=True,
                          text=True, check=True, timeout=300)  # fmt: skip
    peak, nbytes, band, estimate = json.loads(done.stdout.splitlines()[-1])
    in_flight = 2 * THREADS * 3 * band  # windows filling or warping: source, warped, masks
    assert peak <= 2 * nbytes + in_flight + 4 * MiB, (peak / nbytes, nbytes, band)
    assert peak <= estimate, (peak, estimate)


def test_max_memory_covers_the_peak_not_only_the_output(pixel_coll, scenes):
    """A merged read of four records into one image: the output fits, the records merged
    into it do not."""
    area = shapely.box(*_block(scenes))
    kwargs = dict(geometry_crs=32643, crs=32644, merge="first", group_by=None)
    out = pixel_coll.get_numpy(area, ["B04", "B08"], max_memory=None, **kwargs)
    with pytest.raises(MemoryLimitError, match="windows in flight"):
        pixel_coll.get_numpy(area, ["B04", "B08"], max_memory=out.nbytes * 3 // 2, **kwargs)
