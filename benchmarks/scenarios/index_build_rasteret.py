"""Published rasteret (peer venv): the same build as index_build_cogdex.py, cold process.

Driven as /work/shared/lab/bench/baseline_rasteret.py does (an HTTPStore that allows http).
Stdlib + rasteret only: runs under the peer's Python.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from common import BANDS, aoi, report

warnings.simplefilter("ignore")
import rasteret  # noqa: E402
from obstore.store import HTTPStore  # noqa: E402
from rasteret.cloud import ObstoreBackend  # noqa: E402
from rasteret.fetch.cog import _OBSTORE_CLIENT_OPTIONS  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--keep", help="workspace folder to keep the index in")
ap.add_argument("--all", action="store_true", help="no bbox/date filter (every item)")
a = ap.parse_args()
base = os.environ["LAB_HTTP_URL"] + "/"
options = {**_OBSTORE_CLIENT_OPTIONS, "allow_http": True}
backend = ObstoreBackend(HTTPStore.from_url(base, client_options=options), url_prefix=base)
workspace = a.keep or tempfile.mkdtemp(prefix="rasteret-bench-")
search = {} if a.all else {"bbox": aoi(), "date_range": ("2024-01-01", "2024-02-01")}
coll = rasteret.build_from_stac(
    name="lab",
    stac_api=os.environ["LAB_STAC_URL"],
    collection="sentinel-2-l2a",
    workspace_dir=workspace,
    force=True,
    backend=backend,
    **search,
)
report(
    tool=f"rasteret {rasteret.version()}",
    records=len(coll),
    cogs=len(coll) * len(BANDS),
    index=workspace,
)
