"""`collection.to("torchgeo_loader", ...)`: a DataLoader of gridded chips over a lon/lat box,
each chip what the dataset itself reads there, in the same order every epoch."""

from __future__ import annotations

import pytest
import shapely
import torch
from pyproj import Transformer
from torch.utils.data import DataLoader

from cogdex.errors import GeometryError
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


@pytest.mark.parametrize("bbox", [(170.0, -10.0, -170.0, 10.0), (78.1, 20.0, 78.0, 20.1)])
def test_a_reversed_or_antimeridian_box_is_refused_not_read_as_its_complement(adapter_coll, bbox):
    with pytest.raises(GeometryError, match="bbox"):
        adapter_coll.to("torchgeo_loader", BANDS, size=32, bbox=bbox, crs=32643, res=10)
