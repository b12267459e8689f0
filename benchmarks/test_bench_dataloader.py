"""DataLoader epochs: CogdexGeoDataset vs TorchGeo's RasterDataset on the same local COGs
(pytest-benchmark; not timed tests: nothing here asserts a time).

    uv run pytest benchmarks/test_bench_dataloader.py --benchmark-only -p no:cacheprovider

The 8 synthetic scenes of the test suite (1024 px, 512-px tiles, deflate, two UTM zones)
are written once per run; cogdex reads them from a local nginx, RasterDataset from disk
(GDAL, file handles cached). An epoch is 256 chips of 64 x 64 px (B04, B08; float32, both
datasets' defaults) from a RandomPatchSampler over each dataset with one seed (the same
chips in one CRS), batches of 16, `num_workers=0`, so
the read path is what is measured. Cases: one CRS (the 4 scenes of UTM 43N: window cuts on
both sides) and two CRSs (all 8 scenes onto UTM 43N: warps). Each epoch is timed warm
(second and later rounds: cogdex's decoded-tile cache and GDAL's block cache both full);
each case first checks that both datasets give identical batches in one CRS. Ratios are
recorded in docs/torchgeo.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest
import torch
from pyproj import CRS
from torch.utils.data import DataLoader
from torchgeo.datasets import stack_samples
from torchgeo.samplers import RandomPatchSampler

import cogdex
from benchmarks.served import served_collection
from tests.adapters.conftest import BANDS, link_in_order
from tests.adapters.test_torchgeo_equality import Reference
from tests.servers.scenes import SceneSet

CHIPS, SIZE, BATCH = 256, 64, 16


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[SceneSet, cogdex.Collection, Path]]:
    with served_collection("bench-loader", BANDS) as served:
        yield served


def _datasets(setup, case: str):
    scenes, coll, root = setup
    if case == "one CRS":
        ds = coll.where(pc.field("epsg") == 32643).to_torchgeo_dataset(BANDS)
        options = {}
    else:
        ds = coll.to_torchgeo_dataset(BANDS, crs=32643, res=10.0)
        options = {"crs": CRS.from_epsg(32643), "res": 10.0}
    folder = link_in_order(scenes, list(ds.index["id"]), root / case.replace(" ", "-"))
    return ds, Reference(str(folder), bands=BANDS, **options)


def _epoch(dataset, chips) -> int:
    loader = DataLoader(dataset, sampler=chips, batch_size=BATCH, collate_fn=stack_samples)
    return sum(int(batch["image"].shape[0]) for batch in loader)


@pytest.mark.parametrize("candidate", ["RasterDataset", "cogdex"])
@pytest.mark.parametrize("case", ["one CRS", "two CRSs"])
def test_dataloader_epoch(benchmark, setup, case, candidate):
    ds, ref = _datasets(setup, case)
    dataset = ds if candidate == "cogdex" else ref
    chips = list(RandomPatchSampler(dataset, size=SIZE, length=CHIPS, generator=0))
    if case == "one CRS":
        for chip in chips[:BATCH]:
            assert torch.equal(ds[chip]["image"], ref[chip]["image"])
    _epoch(dataset, chips)  # warm up: caches, thread pools, file handles
    benchmark.group = f"DataLoader epoch, {CHIPS} chips of {SIZE} px, {case}"
    assert benchmark.pedantic(_epoch, args=(dataset, chips), rounds=3, iterations=1) == CHIPS
