"""cogdex: cold process, load a large index and subset it by bbox, dates and cloud cover.

Prints the matching ids' digest so the runner checks both tools found the same scenes.
Stdlib only besides the tool, so the same query file serves both candidates.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import report
from subset_query import BBOX, CLOUD_LT, DATES, ids_digest

import cogdex

coll = cogdex.load(os.environ["INDEX_PATH"])
sub = coll.subset(bbox=BBOX, date_range=DATES, cloud_cover_lt=CLOUD_LT)
ids = sub.ids
report(tool=f"cogdex {cogdex.__version__}", records=len(ids), digest=ids_digest(ids))
