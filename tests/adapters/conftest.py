"""Collections of the synthetic scenes for the adapter tests, and TorchGeo's reference
dataset over the same files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest

import cogdex
from cogdex.testing import RangeServer
from tests.servers.scenes import SceneSet, StacFiles

BANDS = ["B04", "B08"]


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
