"""`sample_points` reads its tiles while the rest of the result table is laid out beside
them (`PointPlan.read`): the first of the two to fail stops the other, so no tile is
fetched after the error reached the caller."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from cogdex.io import fetch, runtime
from cogdex.read.points import plan_points

AOI = (77.99, 19.992, 78.012, 20.01)  # across UTM 43N and 44N
BANDS = ["B04", "B08"]


def test_a_failed_layout_stops_the_tile_reads(fault_server, fault_coll, fast_uncached_reads):
    """Every GET stalls, then its connection closes and a live read retries it. The layout
    fails once the GETs are out: its error reaches the caller, and no GET is retried after
    (with `asyncio.gather` the reads went on, retrying each stalled GET)."""
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(AOI[0], AOI[2], 200), rng.uniform(AOI[1], AOI[3], 200)
    table, sources = fault_coll.read_inputs(BANDS)
    plan = plan_points(sources, lon, lat, list(range(len(table))), fill=0, dtype=np.uint16)
    fault_server.stall_s = 1.5
    fault_server.inject("*", ["stall"] * 10_000)

    def lay_out() -> None:
        deadline = time.monotonic() + 10
        while not fault_server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        raise RuntimeError("the layout failed")

    with pytest.raises(RuntimeError, match="the layout failed"):
        fetch.run_read(plan.read(16, lay_out))
    assert fault_server.requests  # the GETs were out when it failed
    time.sleep(fault_server.stall_s + 1.5)  # the stalls end: a live read would retry now
    assert runtime.settle(60)  # and the stalled GETs have landed
    sent = Counter((r.path, r.range) for r in fault_server.requests)
    assert max(sent.values()) == 1, sent
