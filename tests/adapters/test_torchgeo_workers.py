"""DataLoader workers, forked (persistent) and spawned: each reads with its own stores and
event loop, from the headers in the pickled index, and never fetches a header."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader
from torchgeo.datasets import stack_samples
from torchgeo.samplers import RandomPatchSampler

import cogdex
from cogdex.testing import RangeServer
from tests.adapters.conftest import BANDS
from tests.servers.scenes import StacFiles

# Forking a process with threads (cogdex's loop, torch's pools) is what this test exercises.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")


def _header_requests(server: RangeServer) -> list[str]:
    """Requests from byte 0: a header fetch (tiles lie after the header)."""
    return [
        r.range or "" for r in server.requests if (r.range or "bytes=0-").startswith("bytes=0-")
    ]


def _expected(ds, chips) -> torch.Tensor:
    return torch.stack([ds[c]["image"] for c in chips])


@pytest.fixture(scope="module")
def dataset(stac_files: StacFiles, logged_server: RangeServer, tmp_path_factory):
    """The dataset over a collection whose hrefs are on `logged_server`."""
    logged_server.clear_log()
    coll = cogdex.build_from_stac(
        stac_files.items_json,
        name="adapters-logged",
        bands=BANDS,
        href_rewrites={stac_files.base_url: logged_server.url},
        cache_dir=tmp_path_factory.mktemp("logged-cache"),
    )
    assert len(_header_requests(logged_server)) >= len(coll)  # the build reads the headers
    return coll.to_torchgeo_dataset(BANDS, crs=32643, chip_size=8)


@pytest.mark.parametrize("context", ["fork", "spawn"], ids=["fork-persistent", "spawn"])
def test_workers_read_without_fetching_headers(dataset, logged_server: RangeServer, context):
    chips = list(RandomPatchSampler(dataset, size=8, length=8, generator=4))
    want = _expected(dataset, chips)  # the parent has a loop and stores before the workers
    logged_server.clear_log()
    loader = DataLoader(
        dataset, sampler=chips, batch_size=4, num_workers=2, collate_fn=stack_samples,
        multiprocessing_context=context, persistent_workers=context == "fork", timeout=120,
    )  # fmt: skip
    epochs = 2 if context == "fork" else 1
    for _ in range(epochs):
        got = torch.cat([batch["image"] for batch in loader])
        assert torch.equal(got, want)
    requests = logged_server.requests
    assert requests, "the workers read nothing over HTTP"
    assert _header_requests(logged_server) == []


def test_dataset_pickles_with_its_index_and_headers(dataset):
    copy = pickle.loads(pickle.dumps(dataset))
    chip = next(iter(RandomPatchSampler(dataset, size=8, length=1, generator=9)))
    assert copy.index.equals(dataset.index) and copy.crs == dataset.crs
    assert torch.equal(copy[chip]["image"], dataset[chip]["image"])
