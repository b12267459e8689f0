"""`collection.to("torchgeo_loader", ...)`: a DataLoader of gridded chips over a lon/lat box,
each chip what the dataset itself reads there, in the same order every epoch."""

from __future__ import annotations

import pytest
import shapely
import torch
from pyproj import Transformer
from torch.utils.data import DataLoader

from cogdex.errors import GeometryError
from cogdex_torchgeo.loader import worker_order
from tests.adapters.conftest import BANDS
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
BBOX = (LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)  # about 2 km: a few 32 px chips


def test_loader_batches_the_gridded_chips_over_the_box(adapter_coll):
    loader = adapter_coll.to(
        "torchgeo_loader", BANDS, size=32, batch_size=3, bbox=BBOX, crs=32643, res=10
    )
    assert isinstance(loader, DataLoader)
    batches = list(loader)
    assert [len(b["image"]) for b in batches[:-1]] == [3] * (len(batches) - 1)
    images = torch.cat([b["image"] for b in batches])
    assert images.shape[1:] == (2, 32, 32) and images.dtype == torch.float32
    # The chips (the sampler's slices, exact; a batch's float32 `bounds` are rounded): 32 px
    # of 10 m, a grid of whole chips over the box, none overlapping ...
    chips = list(loader.sampler)
    assert len(chips) == len(images) > 1
    box = shapely.box(*Transformer.from_crs(4326, 32643, always_xy=True).transform_bounds(*BBOX))
    squares = [shapely.box(x.start, y.start, x.stop, y.stop) for x, y in chips]
    assert [s.area for s in squares] == pytest.approx([320.0**2] * len(squares))
    assert all(s.intersects(box) for s in squares)
    union = shapely.union_all(squares)
    assert union.contains(box)
    assert sum(s.area for s in squares) == pytest.approx(union.area)
    # ... each holding what the dataset reads there, in grid order every epoch
    dataset = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, res=10)
    assert torch.equal(images, torch.stack([dataset[x, y]["image"] for x, y in chips]))
    assert torch.equal(torch.cat([b["image"] for b in loader]), images)


def test_with_workers_each_reads_a_contiguous_run_of_the_grid_order_batches(adapter_coll):
    grid = adapter_coll.to(
        "torchgeo_loader", BANDS, size=32, batch_size=2, bbox=BBOX, crs=32643, res=10
    )
    loader = adapter_coll.to(
        "torchgeo_loader", BANDS, size=32, batch_size=2, bbox=BBOX, crs=32643, res=10,
        num_workers=2,
    )  # fmt: skip
    chips = list(grid.sampler)
    batches = [chips[k : k + 2] for k in range(0, len(chips), 2)]
    order = list(loader.sampler)
    epoch = [order[k : k + 2] for k in range(0, len(order), 2)]
    assert sorted(map(str, epoch)) == sorted(map(str, batches))  # the same batches
    full = len(chips) // 2
    half = (full + 1) // 2  # worker 0 reads batch i of the epoch for even i: the first run
    assert epoch[0:full:2] == batches[:half] and epoch[1:full:2] == batches[half:full]
    images = {str(b): img for b, img in zip(batches, (b["image"] for b in grid), strict=True)}
    for chip_batch, batch in zip(epoch, loader, strict=True):  # read by the two workers
        assert torch.equal(batch["image"], images[str(chip_batch)])


@pytest.mark.parametrize(
    ("n", "workers", "runs"),
    [
        (18, 2, [[0, 1], [2, 3]]),  # 4 full batches of 4 and a short one, which stays last
        (20, 3, [[0, 1], [2, 3], [4]]),  # runs as even as they go, the first ones longer
        (8, 1, [[0, 1]]),
    ],
)
def test_worker_order_gives_worker_w_run_w_of_the_batches(n, workers, runs):
    order = worker_order(list(range(n)), 4, workers)
    assert sorted(order) == list(range(n))
    epoch = [order[k : k + 4] for k in range(0, n, 4)]
    for w, run in enumerate(runs):  # torch hands batch i to worker i % workers
        assert [b[0] // 4 for b in epoch[w : len(epoch) - (n % 4 > 0) : workers]] == run
    assert all(b == list(range(b[0], b[0] + len(b))) for b in epoch)  # grid-order batches
    assert epoch[-1][-1] == n - 1 or n % 4 == 0


@pytest.mark.parametrize("bbox", [(170.0, -10.0, -170.0, 10.0), (78.1, 20.0, 78.0, 20.1)])
def test_a_reversed_or_antimeridian_box_is_refused_not_read_as_its_complement(adapter_coll, bbox):
    with pytest.raises(GeometryError, match="crosses the antimeridian") as err:
        adapter_coll.to("torchgeo_loader", BANDS, size=32, bbox=bbox, crs=32643, res=10)
    w, s, e, n = (f"{v:g}" for v in bbox)
    assert f"bbox=({w}, {s}, 180, {n}) and bbox=(-180, {s}, {e}, {n})" in str(err.value)
    assert err.value.argument == "bbox"
