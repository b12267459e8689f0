"""The adapters' view of the same records in another row order (as `extend`, positional
indexing or an export and load leave them) is the same: a TorchGeo dataset's CRS and
resolution come from the earliest record (datetime, then id), not the first row, and its
index and chips are equal; an xarray cube's time steps (ties by id) and pixels are equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from tests.adapters.conftest import BANDS
from tests.servers.scenes import AOI_LONLAT

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The inplace keyword"),
]


@pytest.mark.parametrize("time_series", [False, True])
def test_a_dataset_of_the_same_records_in_another_row_order_is_the_same(adapter_coll, time_series):
    n = len(adapter_coll)
    orders = {
        "reversed": adapter_coll[::-1],
        "shuffled": adapter_coll[np.random.default_rng(3).permutation(n)],
    }
    want = adapter_coll.to_torchgeo_dataset(BANDS, time_series=time_series, resampling="nearest")
    x, y, _ = want.bounds
    cx, cy = (x.start + x.stop) / 2, (y.start + y.stop) / 2
    half = 64 * want.res[0]
    chip = (slice(cx - half, cx + half), slice(cy - half, cy + half))
    for how, other in orders.items():
        got = other.to_torchgeo_dataset(BANDS, time_series=time_series, resampling="nearest")
        assert (got.crs, got.res) == (want.crs, want.res), how
        assert got.index["id"].tolist() == want.index["id"].tolist(), how
        assert torch.equal(got[chip]["image"], want[chip]["image"]), how


@pytest.mark.parametrize("merge", [None, "first"])
def test_an_xarray_cube_of_the_same_records_in_another_row_order_is_the_same(adapter_coll, merge):
    lon, lat = AOI_LONLAT
    aoi = (lon - 0.01, lat - 0.008, lon + 0.012, lat + 0.01)  # both UTM zones
    want = adapter_coll.get_xarray(aoi, BANDS, merge=merge)
    for other in (adapter_coll[::-1], adapter_coll[[3, 0, 6, 1, 7, 2, 5, 4]]):
        xr.testing.assert_identical(other.get_xarray(aoi, BANDS, merge=merge), want)
