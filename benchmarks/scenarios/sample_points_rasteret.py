"""Published rasteret (peer venv): sample_points of 2 bands of 10 scenes at N points, cold
process from its cached index (built by the runner's warm-up run)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from common import T0, points, report, scene_ids

warnings.simplefilter("ignore")
import pyarrow as pa  # noqa: E402
import rasteret  # noqa: E402
from obstore.store import HTTPStore  # noqa: E402
from rasteret.cloud import ObstoreBackend  # noqa: E402
from rasteret.fetch.cog import _OBSTORE_CLIENT_OPTIONS  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--points", type=int, default=1_000_000)
a = ap.parse_args()
WORKSPACE = os.environ.get("RASTERET_BENCH_WORKSPACE", "/tmp/cogdex-bench/sample-rasteret")
base = os.environ["LAB_HTTP_URL"] + "/"
options = {**_OBSTORE_CLIENT_OPTIONS, "allow_http": True}
backend = ObstoreBackend(HTTPStore.from_url(base, client_options=options), url_prefix=base)
coll = rasteret.build_from_stac(
    name="lab", stac_api=os.environ["LAB_STAC_URL"], collection="sentinel-2-l2a",
    workspace_dir=WORKSPACE, backend=backend,
)  # fmt: skip
coll = coll.where(pa.compute.field("id").isin(scene_ids(10)))
lon, lat = points(a.points)
table = coll.sample_points(pa.table({"x": lon, "y": lat}), ["B04", "B08"], x_column="x",
                           y_column="y", backend=backend, geometry_crs=4326)  # fmt: skip
wall = time.perf_counter() - T0
report(tool=f"rasteret {rasteret.version()}", points=a.points, values=table.num_rows,
       points_per_s=round(a.points / wall))  # fmt: skip
