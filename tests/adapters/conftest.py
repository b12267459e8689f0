"""Collections of the synthetic scenes for the adapter tests, and TorchGeo's reference
dataset over the same files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin

import cogdex
from cogdex.testing import RangeServer
from tests.servers.scenes import SceneSet, StacFiles

BANDS = ["B04", "B08"]
GEOS = "+proj=geos +h=35785831 +lon_0=-75 +sweep=x +datum=WGS84 +units=m"
"""GOES-East's view: none of a global lon/lat raster's edges (the antimeridian, the poles)
is visible from it, yet its inside covers the disk."""


@pytest.fixture(scope="session")
def adapter_coll(stac_files: StacFiles, tmp_path_factory: pytest.TempPathFactory):
    """B04 and B08 of all 8 scenes (two UTM zones), over nginx."""
    return cogdex.build_from_stac(
        stac_files.items_json,
        name="adapters",
        bands=BANDS,
        cache_dir=tmp_path_factory.mktemp("adapter-cache"),
    )


@pytest.fixture(scope="session")
def zone43_coll(adapter_coll):
    """The 4 scenes in EPSG:32643."""
    return adapter_coll.where(pc.field("epsg") == 32643)


@pytest.fixture(scope="session")
def logged_server(scenes: SceneSet, server_logs: Path) -> Iterator[RangeServer]:
    """A Range server over the scenes that logs every request with its Range header."""
    server = RangeServer(scenes.root, server_logs / "adapters-http.log").start()
    yield server
    server.close()


def link_in_order(scenes: SceneSet, ids: list[str], folder: Path) -> Path:
    """Symlinks `<k>_<yyyymmdd>_<band>.tif` to the scenes' files, k the position in `ids`,
    so that a RasterDataset finds them in that order with their dates."""
    folder.mkdir(parents=True, exist_ok=True)
    by_id = {s.id: s for s in scenes.scenes}
    for k, rid in enumerate(ids):
        scene = by_id[rid]
        for band in BANDS:
            link = folder / f"{k:02d}_{scene.datetime:%Y%m%d}_{band}.tif"
            if not link.exists():
                os.symlink(scene.files[band], link)
    return folder


@pytest.fixture(scope="session")
def global_coll(tmp_path_factory: pytest.TempPathFactory):
    """One global lon/lat record (1 degree pixels, GDAL-written), for reads onto `GEOS`."""
    folder = tmp_path_factory.mktemp("global")
    data = np.random.default_rng(0).integers(1, 5000, (1, 180, 360), dtype=np.uint16)
    profile = {"driver": "GTiff", "width": 360, "height": 180, "count": 1, "dtype": "uint16",
               "crs": "EPSG:4326", "transform": from_origin(-180, 90, 1, 1), "tiled": True,
               "blockxsize": 128, "blockysize": 128, "nodata": 0}  # fmt: skip
    with rasterio.open(folder / "global.tif", "w", **profile) as ds:
        ds.write(data)
    table = pa.table({"id": ["global"], "datetime": ["2024-01-01"],
                      "href": [str(folder / "global.tif")]})  # fmt: skip
    pq.write_table(table, folder / "t.parquet")
    return cogdex.build_from_table(
        folder / "t.parquet", name="global", bands=["data"], href_columns={"data": "href"},
        cache_dir=folder / "cache",
    )  # fmt: skip
