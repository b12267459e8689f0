"""cogdex: sample 2 bands of 10 scenes at N points (every point inside every scene), cold
process from the cached index; reports points per second over the whole process and the
CPU seconds it used (on a shared machine the steadier measure of a change)."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np
from common import T0, points, report, scene_ids

import cogdex
from cogdex.index import arrays as A
from cogdex.io import fetch

ap = argparse.ArgumentParser()
ap.add_argument("--points", type=int, default=1_000_000)
a = ap.parse_args()
CACHE = os.environ.get("COGDEX_BENCH_CACHE", "/tmp/cogdex-bench/sample-cache")
lon, lat = points(a.points)
with fetch.recording() as rec:
    coll = cogdex.build_from_stac(
        os.environ["LAB_STAC_URL"], "sentinel-2-l2a", name="lab", bands=["B04", "B08"],
        ids=scene_ids(10), cache_dir=CACHE,
    )  # fmt: skip
    table = coll.sample_points((lon, lat), ["B04", "B08"])
wall = time.perf_counter() - T0
usage = resource.getrusage(resource.RUSAGE_SELF)
value_sum = int(A.to_numpy(table.column("value")).sum(dtype=np.int64))  # a digest, no overflow
report(tool=f"cogdex {cogdex.__version__}", points=a.points, values=table.num_rows,
       points_per_s=round(a.points / wall), value_sum=value_sum,
       cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
       requests=rec.requests, bytes=rec.bytes)  # fmt: skip
