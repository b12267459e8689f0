"""TorchGeo's RasterDataset over the case's COGs through GDAL's /vsicurl/, cold process.

Its cold start includes its own index: RasterDataset opens every file to read its extent
(header requests), then each sample merges every time step in turn. GDAL runs with the cloud
settings TorchGeo and rasteret's benchmark recommend (pangeo's COG best practices).
DataLoader workers are spawned: forked ones share the parent's GDAL connections and read
corrupt tiles here ("ZIPDecode: Decoding error"), with or without multiplexing and merged
ranges.
"""

# isort: skip_file
# (torchgeo_common first: its import starts the clock the imports are timed by.)
from __future__ import annotations

import os
import sys
import time

GDAL = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "200000000",
    "VSI_CURL_CACHE_SIZE": "200000000",
    "GDAL_MAX_RAW_BLOCK_CACHE_SIZE": "200000000",
    "GDAL_SWATH_SIZE": "200000000",
    "GDAL_CACHEMAX": "512",
}
os.environ.update(GDAL)

sys.path.insert(0, os.path.dirname(__file__))
from torchgeo_common import (  # noqa: E402
    RES,
    Traffic,
    import_torchgeo,
    measure,
    parse,
    scene_of,
    scene_urls,
)

import rasterio  # noqa: E402
from pyproj import CRS  # noqa: E402
from rasterio.enums import Resampling  # noqa: E402
from torchgeo.datasets import RasterDataset  # noqa: E402


class Scenes(RasterDataset):
    """Nearest resampling, as rasteret reads uint16 and cogdex is asked to: RasterDataset's
    default for its float32 output is bilinear, which only acts on warped records."""

    @property
    def resampling(self) -> Resampling:
        return Resampling.nearest


def main() -> None:
    _, case, args = parse()
    import_torchgeo()
    imported = time.perf_counter()
    urls = scene_urls(case)  # the search's result, as the user has it: not the cold start
    prep_s = time.perf_counter() - imported
    traffic = Traffic()
    t = time.perf_counter()
    dataset = Scenes(
        paths=[f"/vsicurl/{u}" for u in urls],
        crs=CRS.from_epsg(case.crs) if case.crs else None,
        res=RES,
        time_series=True,
    )
    index_s = time.perf_counter() - t
    order = [scene_of(p) for p in dataset.index.filepath]
    measure(
        dataset, traffic, case, order, args.steady, imported, index_s,
        workers_start="spawn",
        tool=f"torchgeo RasterDataset, GDAL {rasterio.__gdal_version__}",
        prep_s=round(prep_s, 4),
    )  # fmt: skip


if __name__ == "__main__":  # spawned DataLoader workers import this module
    main()
