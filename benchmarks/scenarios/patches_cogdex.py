"""cogdex: read the wanted patches from their source COGs through its index (over HTTP).

The index of the lab's scenes is built into CACHE by the runner's warm-up run and loaded by
the timed ones. Per source scene, one `get_numpy` of all its wanted patch boxes (in the
scene's CRS, on its grid: no resampling); the scenes are read concurrently.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np
import pyarrow.compute as pc
import shapely
from common import digest, report
from patches_common import wanted

import cogdex

CACHE = os.environ.get("COGDEX_BENCH_CACHE", "/tmp/labdata-h8/patches-cache")
keys, meta = wanted()
coll = cogdex.build_from_stac(
    os.environ["LAB_STAC_URL"], "sentinel-2-l2a", name="patches", bands=["B04"],
    bbox=(77.0, 19.0, 79.0, 21.0), date_range=("2024-01-01", "2024-12-31"), cache_dir=CACHE,
)  # fmt: skip
by_scene: dict[str, list[str]] = {}
for key in keys:
    by_scene.setdefault(meta[key]["product_id"], []).append(key)


def read(scene: str) -> list[np.ndarray]:
    wanted_keys = by_scene[scene]
    boxes = shapely.box(*np.array([meta[k]["bounds"] for k in wanted_keys]).T)
    one = coll.where(pc.field("id") == scene)
    return list(one.get_numpy(boxes, "B04", geometry_crs=meta[wanted_keys[0]]["epsg"]))


with ThreadPoolExecutor(8) as pool:
    read_scenes = dict(zip(by_scene, pool.map(read, by_scene), strict=True))
patches = {
    key: array
    for scene, arrays in read_scenes.items()
    for key, array in zip(by_scene[scene], arrays, strict=True)
}
arrays = [patches[k] for k in keys]
report(tool=f"cogdex {cogdex.__version__}", patches=len(arrays), digest=digest(arrays))
