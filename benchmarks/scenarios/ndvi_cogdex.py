"""cogdex: load the 450,000-scene index, filter, read red + NIR over the farm, NDVI per date."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from ndvi_common import BANDS, CLOUD_LT, FARM_EPSG, FARM_LONLAT, FARM_UTM, INDEX, YEAR, ndvi, run

import cogdex


def workflow() -> tuple[list[str], list]:
    coll = cogdex.load(INDEX)
    farm = coll.subset(bbox=FARM_LONLAT, date_range=YEAR, cloud_cover_lt=CLOUD_LT)
    data, table = farm.get_numpy(FARM_UTM, list(BANDS), geometry_crs=FARM_EPSG, return_table=True)
    dates = [str(d)[:10] for d in table.column("datetime").to_pylist()]
    order = sorted(range(len(dates)), key=dates.__getitem__)
    return [dates[i] for i in order], [ndvi(data[i, 0], data[i, 1]) for i in order]


run(workflow, tool=f"cogdex {cogdex.__version__}")
