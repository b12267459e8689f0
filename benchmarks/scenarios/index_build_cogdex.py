"""cogdex: build the index of the lab's 12 scenes x 4 bands from its STAC API, cold process.

One STAC search, then every COG header fetched concurrently (one request per COG), written
as GeoParquet into a fresh cache folder (what a first `build_from_stac` call does).
`--keep DIR` leaves the index there (the seed of the synthetic 500k-scene index).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import BANDS, T0, aoi, report

import cogdex
from cogdex.io import fetch

ap = argparse.ArgumentParser()
ap.add_argument("--keep", help="cache folder to keep the index in")
ap.add_argument("--all", action="store_true", help="no bbox/date filter (every item)")
a = ap.parse_args()
cache = a.keep or tempfile.mkdtemp(prefix="cogdex-bench-")
search = {} if a.all else {"bbox": aoi(), "date_range": ("2024-01-01", "2024-02-01")}
with fetch.recording() as rec:
    coll = cogdex.build_from_stac(
        os.environ["LAB_STAC_URL"],
        "sentinel-2-l2a",
        name="lab",
        bands=list(BANDS),
        cache_dir=cache,
        force=True,
        **search,
    )
report(
    tool=f"cogdex {cogdex.__version__}",
    records=len(coll),
    cogs=len(coll) * len(BANDS),
    skipped=len(coll.skipped),
    requests=rec.requests,
    requests_per_cog=round(rec.requests / (len(coll) * len(BANDS)), 2),
    headers_per_s=round(len(coll) * len(BANDS) / (time.perf_counter() - T0)),
    index=coll.location,
)
