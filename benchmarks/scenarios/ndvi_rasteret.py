"""rasteret 0.3.12 (its own venv): the same workflow as ndvi_cogdex.py on its own index.

Reads through rasteret's obstore backend over HTTP, as get_numpy_rasteret.py does.
"""

from __future__ import annotations

import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from ndvi_common import (
    BANDS,
    CLOUD_LT,
    FARM_EPSG,
    FARM_LONLAT,
    FARM_UTM,
    RASTERET_INDEX,
    YEAR,
    ndvi,
    run,
)

warnings.simplefilter("ignore")
import rasteret  # noqa: E402
from obstore.store import HTTPStore  # noqa: E402
from rasteret.cloud import ObstoreBackend  # noqa: E402
from rasteret.fetch.cog import _OBSTORE_CLIENT_OPTIONS  # noqa: E402


def workflow() -> tuple[list[str], list]:
    base = os.environ["LAB_HTTP_URL"] + "/"
    options = {**_OBSTORE_CLIENT_OPTIONS, "allow_http": True}
    backend = ObstoreBackend(HTTPStore.from_url(base, client_options=options), url_prefix=base)
    coll = rasteret.load(RASTERET_INDEX)
    farm = coll.subset(bbox=FARM_LONLAT, date_range=YEAR, cloud_cover_lt=CLOUD_LT)
    dates = [str(d)[:10] for d in farm.to_table(columns=["datetime"]).column(0).to_pylist()]
    data = farm.get_numpy(
        geometries=FARM_UTM, bands=list(BANDS), geometry_crs=FARM_EPSG, backend=backend
    )
    order = sorted(range(len(dates)), key=dates.__getitem__)
    return [dates[i] for i in order], [ndvi(data[i, 0], data[i, 1]) for i in order]


run(workflow, tool=f"rasteret {rasteret.version()}")
