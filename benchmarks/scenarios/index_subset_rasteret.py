"""Published rasteret (peer venv): the same load + subset as index_subset_cogdex.py."""

from __future__ import annotations

import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from common import report
from subset_query import BBOX, CLOUD_LT, DATES, ids_digest

warnings.simplefilter("ignore")
import rasteret  # noqa: E402

coll = rasteret.load(os.environ["RASTERET_INDEX_PATH"])
sub = coll.subset(bbox=BBOX, date_range=DATES, cloud_cover_lt=CLOUD_LT)
ids = sub.to_table(columns=["id"]).column("id").to_pylist()
report(tool=f"rasteret {rasteret.version()}", records=len(ids), digest=ids_digest(ids))
