"""sample_points' CPU-bound part, per point (pytest-benchmark; nothing here asserts a time).

    uv run pytest benchmarks/test_bench_points.py --benchmark-only -p no:cacheprovider

On a busy machine add `--benchmark-timer time.process_time` (CPU time: planning and the
table use the decode pool's threads too, so this counts all of the process's cores).

The 8 synthetic scenes of the test suite (1024 px, 512-px deflate tiles, two UTM zones) on
a local nginx; 200,000 lon/lat points where all 8 overlap, bands B04 and B08: 3.2 million
values. Cases:
- `plan`: `plan_points`, what the caller does before any request (both zones' projections,
  each point's pixel and tile, the tile jobs, the value column);
- `warm call`: the whole `Collection.sample_points` with every tile already decoded in the
  tile cache (checked: no request), so what is timed is planning, the gather of the values
  from the tiles and the 3.2-million-row Arrow table. The 1M-point lab scenario
  (`benchmarks/run.py sample-points`) adds to this only the fetches and the decode of its
  tiles. Numbers are in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import cogdex
from benchmarks.served import served_collection
from cogdex.index import arrays as A
from cogdex.io import fetch
from cogdex.read.points import plan_points

POINTS, BANDS = 200_000, ["B04", "B08"]


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[cogdex.Collection, np.ndarray, np.ndarray]]:
    with served_collection("bench-points", BANDS) as (_, coll, _):
        bbox = coll.read_inputs(BANDS)[0].column("bbox").combine_chunks()
        low = [A.to_numpy(bbox.field(k)).max() for k in ("xmin", "ymin")]
        high = [A.to_numpy(bbox.field(k)).min() for k in ("xmax", "ymax")]
        rng = np.random.default_rng(5)  # the middle of the bboxes' overlap: in every footprint
        lon, lat = (rng.uniform(lo + (hi - lo) / 4, hi - (hi - lo) / 4, POINTS)
                    for lo, hi in zip(low, high, strict=True))  # fmt: skip
        yield coll, lon, lat


def test_plan(benchmark, setup):
    coll, lon, lat = setup
    table, sources = coll.read_inputs(BANDS)
    rows = list(range(len(table)))
    plan = benchmark(plan_points, sources, lon, lat, rows, fill=0, dtype=np.dtype(np.uint16))
    assert plan.values.size == POINTS * len(rows) * len(BANDS)  # every point in every file


def test_warm_call(benchmark, setup):
    coll, lon, lat = setup
    cold = coll.sample_points((lon, lat), BANDS)  # fills the tile cache
    with fetch.recording() as rec:
        warm = benchmark(coll.sample_points, (lon, lat), BANDS)
    assert rec.requests == 0
    assert warm.equals(cold)
    assert warm.num_rows == POINTS * 8 * len(BANDS)
