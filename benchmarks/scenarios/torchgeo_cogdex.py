"""cogdex: `collection.to_torchgeo_dataset(...)` from its index, cold process.

Subsequent runs load the index the runner's warm-up run built (no STAC or header request);
`--fresh` is the first run: it builds the index (STAC search + one header request per COG)
into an empty cache first and reports that build separately (`build_s`, `build_requests`).
"""

from __future__ import annotations

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from torchgeo_common import BAND, RES, Traffic, import_torchgeo, measure, parse

name, case, args = parse()
CACHE = os.environ.get("COGDEX_BENCH_CACHE", "/tmp/cogdex-bench/torchgeo-cache")
# One cache per lab (its STAC URL is part of the cache key, its port of every href).
lab = os.environ["LAB_STAC_URL"].rsplit(":", 1)[-1]
cache = f"{CACHE}-{lab}-fresh-{name}" if args.fresh else f"{CACHE}-{lab}-{name}"
if args.fresh:
    shutil.rmtree(cache, ignore_errors=True)

# cogdex loads its modules on first use; rasteret's script imports its own (and obstore)
# before the clock starts, so cogdex's script imports those the path runs before it too (the
# process wall time, measured from outside, counts them either way).
import obstore  # noqa: E402, F401

import cogdex  # noqa: E402
import cogdex.builds  # noqa: E402
import cogdex_torchgeo.dataset  # noqa: E402, F401

import_torchgeo()
imported = time.perf_counter()
traffic, build_traffic = Traffic(), Traffic()  # index + first batch; the build alone
coll = cogdex.build_from_stac(
    os.environ["LAB_STAC_URL"], "sentinel-2-l2a", name=f"tg-{name}", bands=[BAND],
    bbox=case.search_box(), date_range=case.dates, cache_dir=cache,
)  # fmt: skip
build_s = time.perf_counter() - imported
build = build_traffic.take()
dataset = coll.to_torchgeo_dataset(
    BAND, crs=case.crs, res=RES, time_series=True, resampling="nearest"
)
index_s = time.perf_counter() - imported  # load (or build) + dataset
order = [str(i) for i in dataset.index["id"]]
# The first run reports its index build; later runs only load the index.
built = {"build_s": round(build_s, 4), "build_requests": build[0], "build_bytes": build[1]}
phase = built if args.fresh else {"load_s": round(build_s, 4)}
measure(
    dataset, traffic, case, order, args.steady, imported, index_s,
    tool=f"cogdex {cogdex.__version__}", **phase,
)  # fmt: skip
