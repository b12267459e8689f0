"""rasteret 0.3.x (its own venv): `Collection.to_torchgeo_dataset`, cold process.

0.3.x are the last releases that ship it (0.4 moved it into TorchGeo as `RasteretDataset`,
not in a TorchGeo release yet). Reads go through rasteret's obstore backend over HTTP, as in
get_numpy_rasteret.py. Subsequent runs load the collection the runner's warm-up run built
into the workspace; `--fresh` is the first run (STAC search + header parsing) and reports
that build separately. DataLoader workers are spawned: forked ones wait forever for their
first batch here (rasteret's reader pool runs an event loop on a thread of the parent).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from torchgeo_common import BAND, Traffic, import_torchgeo, measure, parse, scene_of


def main() -> None:
    name, case, args = parse()
    WORKSPACE = os.environ.get("RASTERET_BENCH_WORKSPACE", "/tmp/cogdex-bench/torchgeo-rasteret")
    # One workspace per lab (its port is in every href the collection holds).
    lab = os.environ["LAB_STAC_URL"].rsplit(":", 1)[-1]
    workspace = f"{WORKSPACE}-{lab}-fresh-{name}" if args.fresh else f"{WORKSPACE}-{lab}-{name}"
    if args.fresh:
        shutil.rmtree(workspace, ignore_errors=True)

    import rasteret
    from obstore.store import HTTPStore
    from rasteret.cloud import ObstoreBackend
    from rasteret.fetch.cog import _OBSTORE_CLIENT_OPTIONS

    import_torchgeo()
    imported = time.perf_counter()
    traffic, build_traffic = Traffic(), Traffic()  # index + first batch; the build alone
    base = os.environ["LAB_HTTP_URL"] + "/"
    options = {**_OBSTORE_CLIENT_OPTIONS, "allow_http": True}
    backend = ObstoreBackend(HTTPStore.from_url(base, client_options=options), url_prefix=base)
    coll = rasteret.build_from_stac(
        name=f"tg-{name}", stac_api=os.environ["LAB_STAC_URL"], collection="sentinel-2-l2a",
        bbox=case.search_box(), date_range=case.dates, workspace_dir=workspace, backend=backend,
    )  # fmt: skip
    build_s = time.perf_counter() - imported
    build = build_traffic.take()
    dataset = coll.to_torchgeo_dataset(
        bands=[BAND], time_series=True, target_crs=case.crs, backend=backend
    )
    index_s = time.perf_counter() - imported  # load (or build) + dataset
    # Its index holds a row number per record; the rows (in index order) are in `_payload`.
    order = [scene_of(assets[BAND]["href"]) for assets in dataset._payload["assets"]]
    # The first run reports its index build; later runs only load the index.
    built = {"build_s": round(build_s, 4), "build_requests": build[0], "build_bytes": build[1]}
    phase = built if args.fresh else {"load_s": round(build_s, 4)}
    measure(
        dataset, traffic, case, order, args.steady, imported, index_s,
        workers_start="spawn", tool=f"rasteret {rasteret.version()}", **phase,
    )  # fmt: skip


if __name__ == "__main__":  # spawned DataLoader workers import this module
    warnings.simplefilter("ignore")
    main()
