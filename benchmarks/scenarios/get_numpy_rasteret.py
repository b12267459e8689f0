"""Published rasteret (peer venv): get_numpy of the same AOI x 4 bands from its cached index.

Driven as /work/shared/lab/bench/baseline_rasteret.py does. The runner's warm-up run builds
the index into the workspace; the timed runs reuse it (rasteret's cached-index path).
"""

from __future__ import annotations

import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from common import BANDS, aoi, report

warnings.simplefilter("ignore")
import rasteret  # noqa: E402
from obstore.store import HTTPStore  # noqa: E402
from rasteret.cloud import ObstoreBackend  # noqa: E402
from rasteret.fetch.cog import _OBSTORE_CLIENT_OPTIONS  # noqa: E402

WORKSPACE = os.environ.get("RASTERET_BENCH_WORKSPACE", "/tmp/cogdex-bench/get-numpy-rasteret")
base = os.environ["LAB_HTTP_URL"] + "/"
options = {**_OBSTORE_CLIENT_OPTIONS, "allow_http": True}
backend = ObstoreBackend(HTTPStore.from_url(base, client_options=options), url_prefix=base)
coll = rasteret.build_from_stac(
    name="lab", stac_api=os.environ["LAB_STAC_URL"], collection="sentinel-2-l2a", bbox=aoi(),
    date_range=("2024-01-01", "2024-02-01"), workspace_dir=WORKSPACE, backend=backend,
)  # fmt: skip
data = coll.get_numpy(geometries=aoi(), bands=list(BANDS), backend=backend)
report(tool=f"rasteret {rasteret.version()}", shape=list(data.shape),
       nonzero=int((data > 0).sum()))  # fmt: skip
