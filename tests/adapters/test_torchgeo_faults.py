"""TorchGeo epochs through a server that fails on request: transient faults leave every
tensor of a clean epoch; a read that fails for good raises, or with `on_error="fill"` gives a
filled sample that says so (flag, warning, `failed_reads`)."""

from __future__ import annotations

import time

import pandas as pd
import pyarrow.compute as pc
import pytest
import torch
from torch.utils.data import DataLoader
from torchgeo.datasets import stack_samples
from torchgeo.samplers import RandomPatchSampler

import cogdex
from cogdex.errors import NotFoundError
from tests.adapters.conftest import BANDS
from tests.servers.faults import TRANSIENT, FaultServer

# Forking a process with threads (cogdex's loop, torch's pools) is what the worker case does.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")

OPTIONS = {"crs": 32643, "res": 10.0, "chip_size": 64}


def _zone43(coll):
    return coll.where(pc.field("epsg") == 32643)


@pytest.fixture(scope="module")
def clean_ds(adapter_coll):
    return _zone43(adapter_coll).to_torchgeo_dataset(BANDS, **OPTIONS)


@pytest.fixture(scope="module")
def chips(clean_ds):
    return list(RandomPatchSampler(clean_ds, size=64, length=16, generator=5))


def _epoch(ds, chips, workers: int = 0) -> dict[str, torch.Tensor]:
    loader = DataLoader(
        ds, sampler=chips, batch_size=4, num_workers=workers, collate_fn=stack_samples,
        multiprocessing_context="fork" if workers else None, timeout=120 if workers else 0,
    )  # fmt: skip
    batches = list(loader)
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


@pytest.mark.parametrize("workers", [0, 2])
def test_an_epoch_at_5_percent_transient_faults_equals_a_clean_epoch(
    fault_server: FaultServer, fault_coll, clean_ds, chips, fast_uncached_reads, workers
):
    want = _epoch(clean_ds, chips)
    ds = _zone43(fault_coll).to_torchgeo_dataset(BANDS, **OPTIONS)
    fault_server.stall_s = 0.2
    fault_server.random_faults(0.05, TRANSIENT, seed=11)
    got = _epoch(ds, chips, workers)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].dtype == want[key].dtype and torch.equal(got[key], want[key]), key
    assert any(r.action != "ok" for r in fault_server.requests), "no fault was injected"


@pytest.fixture
def missing(fault_server: FaultServer, fault_coll, chips, fast_uncached_reads):
    """The fault server answers every request with 404, and one chip to read."""
    fault_server.inject("*", ["404"] * 10_000)
    return chips[0]


def test_a_failed_read_raises_by_default(fault_coll, missing):
    ds = _zone43(fault_coll).to_torchgeo_dataset(BANDS, **OPTIONS)
    with pytest.raises(NotFoundError) as info:
        ds[missing]
    assert "/scenes/" in info.value.url and info.value.byte_range is not None
    assert ds.failed_reads == []


def test_on_error_fill_fills_flags_warns_and_counts(fault_server, fault_coll, clean_ds, missing):
    ds = _zone43(fault_coll).to_torchgeo_dataset(BANDS, fill_value=7, on_error="fill", **OPTIONS)
    with pytest.warns(cogdex.ReadFailureWarning) as caught:
        sample = ds[missing]
    assert sample["read_failed"].item() is True
    assert sample["image"].shape == clean_ds[missing]["image"].shape
    assert bool((sample["image"] == 7).all())
    assert torch.equal(sample["bounds"], clean_ds[missing]["bounds"])
    (failure,) = ds.failed_reads
    assert failure.url.startswith(f"{fault_server.url}/scenes/")
    assert failure.bounds == (missing[0].start, missing[1].start, missing[0].stop, missing[1].stop)
    message = str(caught[0].message)
    assert failure.url in message and f"x {missing[0].start:.10g}.." in message
    assert "filled with 7: NotFoundError" in message

    fault_server.reset()  # the same chip read, flagged as read
    sample = ds[missing]
    assert sample["read_failed"].item() is False
    assert torch.equal(sample["image"], clean_ds[missing]["image"])
    assert len(ds.failed_reads) == 1


def test_on_error_fill_flags_cross_dataloader_workers(
    fault_server: FaultServer, fault_coll, scenes, fast_uncached_reads
):
    """One missing file (a UTM 44N scene, read onto 43N): the chips over it are filled and
    flagged, in workers as in the main process; the workers' `failed_reads` stay theirs."""
    lost = next(s for s in scenes.scenes if s.epsg == 32644)
    fault_server.inject(lost.keys["B04"], ["404"] * 10_000)
    ds = fault_coll.to_torchgeo_dataset(BANDS, on_error="fill", **OPTIONS)
    chips = list(RandomPatchSampler(ds, size=64, length=16, generator=3))
    with pytest.warns(cogdex.ReadFailureWarning):
        here = _epoch(ds, chips)
    assert len(ds.failed_reads) == int(here["read_failed"].sum())
    assert {f.url for f in ds.failed_reads} == {f"{fault_server.url}/{lost.keys['B04']}"}
    assert here["read_failed"].any() and not here["read_failed"].all()
    ds.failed_reads.clear()
    there = _epoch(ds, chips, workers=2)
    assert all(torch.equal(there[key], here[key]) for key in here)
    assert ds.failed_reads == []  # each worker counted in its own copy


def test_a_failed_plan_of_a_batch_stops_its_sibling_plans(
    fault_server: FaultServer, fault_coll, scenes, fast_uncached_reads
):
    """A batch of two chip sizes is two read plans, over two dates' files. One date's file
    is lost (404); the other's first GET stalls. The error reaches the caller at once, and the
    other plan is cancelled with it: when the stalled connection closes, nothing retries it
    (left running, the plan would fetch again, and decode, after the caller had its error)."""
    lost, stalled = [s for s in scenes.scenes if s.epsg == 32643][:2]
    ds = _zone43(fault_coll).to_torchgeo_dataset(BANDS, **OPTIONS)
    x, y, _ = ds.bounds
    mid_x, mid_y = (x.start + x.stop) / 2, (y.start + y.stop) / 2

    def chip(scene, size: int) -> tuple[slice, slice, slice]:
        at = pd.Timestamp(scene.datetime).tz_localize(None)
        half = size * 10.0 / 2
        return (
            slice(mid_x - half, mid_x + half),
            slice(mid_y - half, mid_y + half),
            slice(at - pd.Timedelta(minutes=1), at + pd.Timedelta(minutes=1)),
        )

    fault_server.stall_s = 1.5
    fault_server.inject(lost.keys["B04"], ["404"] * 100)
    fault_server.inject(stalled.keys["B04"], ["stall"])
    with pytest.raises(NotFoundError) as info:
        ds.__getitems__([chip(lost, 64), chip(stalled, 48)])
    assert info.value.url == f"{fault_server.url}/{lost.keys['B04']}"
    time.sleep(fault_server.stall_s + 1.5)  # the stall ends; a live plan would retry now
    stalled_path = f"/{stalled.keys['B04']}"
    # the stalled GET, if it left before the error (a GET in flight is left to finish),
    # and never its retry
    assert [r.action for r in fault_server.requests if r.path == stalled_path] in ([], ["stall"])
