"""DDP training with torchrun (2 ranks, gloo on CPU, 2 DataLoader workers each) over the
local HTTP Range server, running the documented example, docs/examples/train_ddp.py:
each epoch the ranks' chips are the single-process epoch dealt out (same bounds, same
pixels, none twice, half each), DDP kept the ranks' weights equal while they learnt, and
the server saw tile ranges only, never a header read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest
import torch
import torch.distributed as dist
from torchgeo.samplers import GriddedPatchSampler

import cogdex
from cogdex.testing import RangeServer, parse_range
from cogdex_torchgeo import DistributedGeoSampler
from tests.adapters.conftest import BANDS
from tests.servers.scenes import StacFiles

SCRIPT = Path(__file__).parents[2] / "docs" / "examples" / "train_ddp.py"
RANKS, CHIP, STRIDE, BATCH, EPOCHS = 2, 64, 320, 4, 2

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="this torch has no torch.distributed gloo backend",
)


@pytest.fixture(scope="module")
def index(stac_files: StacFiles, logged_server: RangeServer, tmp_path_factory) -> Path:
    """The UTM 43N scenes' index with hrefs on `logged_server`, exported to a file."""
    coll = cogdex.build_from_stac(
        stac_files.items_json,
        name="adapters-ddp",
        bands=BANDS,
        href_rewrites={stac_files.base_url: logged_server.url},
        cache_dir=tmp_path_factory.mktemp("ddp-cache"),
    )
    zone = coll.where(pc.field("epsg") == 32643)
    return Path(zone.export(tmp_path_factory.mktemp("ddp-index") / "zone43.parquet"))


def _first_tile_bytes(server: RangeServer, path: str) -> int:
    """Where the file's first tile starts: every byte before it is header."""
    header = cogdex.open(str(server.file(path))).header
    return min(int(level.tile_offsets.min()) for level in header.levels)


@needs_gloo
def test_torchrun_ranks_share_the_epoch_without_header_reads(
    index: Path, logged_server: RangeServer, tmp_path: Path
):
    logged_server.clear_log()
    out = tmp_path / "record"
    run = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run",
            "--standalone", "--nnodes=1", f"--nproc_per_node={RANKS}",  # a free rendezvous port
            str(SCRIPT), str(index), "--bands", *BANDS, "--chip", str(CHIP),
            "--stride", str(STRIDE), "--batch-size", str(BATCH), "--workers", "2",
            "--epochs", str(EPOCHS), "--record", str(out),
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    requests = logged_server.requests

    # No header read: every request is a GET of a range past the file's header.
    assert requests, "the ranks read nothing over HTTP"
    first_tile = {
        path: _first_tile_bytes(logged_server, path) for path in {r.path for r in requests}
    }
    for r in requests:
        size = logged_server.file(r.path).stat().st_size  # type: ignore[union-attr]
        span = parse_range(r.range, size)
        assert r.method == "GET" and span is not None, r
        assert span[0] >= first_tile[r.path], f"a header read during training: {r}"

    # The single-process epoch: the same grid over the same index, read in this process.
    dataset = cogdex.load(index).to_torchgeo_dataset(BANDS)
    chips = list(GriddedPatchSampler(dataset, size=CHIP, stride=STRIDE))
    assert len(chips) % (RANKS * BATCH) == 0  # no padding, no short batch: each rank its half
    want = {}
    for chip in chips:
        sample = dataset[chip]
        want[tuple(sample["bounds"].tolist())] = sample["image"]

    records = [torch.load(out / f"rank{r}.pt") for r in range(RANKS)]
    assert [rec["world_size"] for rec in records] == [RANKS] * RANKS
    for epoch in range(EPOCHS):
        got: dict[tuple[float, ...], torch.Tensor] = {}
        for rec in records:
            shard = rec["epochs"][epoch]
            assert len(shard["bounds"]) == len(chips) // RANKS  # its share
            for bounds, image in zip(shard["bounds"], shard["image"], strict=True):
                key = tuple(bounds.tolist())
                assert key not in got, f"chip {key} read twice in epoch {epoch}"
                got[key] = image
        assert got.keys() == want.keys()
        for key, image in want.items():
            assert torch.equal(got[key], image), key
    # The ranks' orders differ per epoch (shuffled by seed + epoch) yet cover the same grid.
    orders = [rec["epochs"][e]["bounds"] for rec in records for e in range(EPOCHS)]
    assert not torch.equal(orders[0], orders[1])

    # DDP ran: the ranks read different chips, learnt, and hold the same weights.
    weights = [rec["weights"] for rec in records]
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), f"{name} differs between ranks"
        assert not torch.equal(value, records[0]["initial"][name]), f"{name} did not change"
    for rec in records:
        assert len(rec["losses"]) == EPOCHS * len(chips) // (RANKS * BATCH)


def test_sampler_deals_out_the_epoch(index: Path):
    """Without a process group: explicit ranks split the grid into disjoint shares of
    equal length; shuffles follow the epoch; an uneven epoch is padded or cut as torch's
    DistributedSampler does."""
    dataset = cogdex.load(index).to_torchgeo_dataset(BANDS)
    grid = GriddedPatchSampler(dataset, size=CHIP, stride=STRIDE)
    chips = list(grid)
    for ranks in (2, 3):
        shares = [list(DistributedGeoSampler(grid, ranks, r)) for r in range(ranks)]
        assert {len(s) for s in shares} == {-(-len(chips) // ranks)}
        dealt = [c for s in shares for c in s]
        assert set(dealt) == set(chips) and len(dealt) - len(chips) == (-len(chips)) % ranks
        cut = [list(DistributedGeoSampler(grid, ranks, r, drop_last=True)) for r in range(ranks)]
        assert sum(map(len, cut)) == len(chips) - len(chips) % ranks
        assert len({c for s in cut for c in s}) == sum(map(len, cut))

    sampler = DistributedGeoSampler(grid, 2, 0, shuffle=True, seed=3)
    epoch0 = list(sampler)
    assert list(sampler) == epoch0  # the same epoch, the same shuffle
    sampler.set_epoch(1)
    assert list(sampler) != epoch0 and len(list(sampler)) == len(epoch0)
