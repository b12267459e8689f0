"""Warped records that share a coordinate map share its sample points, and nothing else
changes: same pixels and masks as warps that compute their own, the memory counted."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from cogdex.read import scenes
from cogdex.read.plan import plan_slots
from cogdex.read.scenes import estimate_peak, output_dtype, plan
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
AREA = (LON - 0.03, LAT - 0.02, LON + 0.03, LAT + 0.02)  # both UTM zones
BANDS = ["B04", "B08", "stack:2", "stack:3"]


@pytest.mark.parametrize(
    ("resampling", "merge", "dtype"),
    [("nearest", None, None), ("nearest", "first", None), ("bilinear", "mean", "float32")],
)
def test_shared_points_change_no_pixel(pixel_coll, monkeypatch, resampling, merge, dtype):
    kwargs = dict(resampling=resampling, merge=merge, dtype=dtype, return_mask=True)
    shared, shared_ok = pixel_coll.get_numpy(AREA, BANDS, **kwargs)
    monkeypatch.setattr(scenes, "SHARED_POINTS_BYTES", 0)  # every warp on its own
    alone, alone_ok = pixel_coll.get_numpy(AREA, BANDS, **kwargs)
    assert shared.tobytes() == alone.tobytes() and np.array_equal(shared_ok, alone_ok)
    assert shared_ok.any()


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_the_memory_guard_counts_the_shared_points(pixel_coll, monkeypatch, resampling):
    """The bands of a record in the other zone share one map: its points are held for the
    whole target (9 bytes a pixel, 25 bilinear) and `estimate_peak` adds them."""
    table, sources = pixel_coll.read_inputs(BANDS)
    slots = plan_slots(table, sources, shapely.box(*AREA), geometry_crs=4326, resolution=None,
                       crs=None, merge=None, group_by=None).slots  # fmt: skip
    pieces = plan(slots, sources, resampling=resampling, fill=0.0)
    groups = scenes._share_points(pieces, slots, resampling)
    warped = [i for i, p in enumerate(pieces) if p.coords is not None]
    assert groups and sorted(i for g in groups for i in g) == warped
    dtype = output_dtype(sources)
    counted = estimate_peak(slots, pieces, len(BANDS), dtype, "first", resampling)[1]
    monkeypatch.setattr(scenes, "SHARED_POINTS_BYTES", 0)
    assert scenes._share_points(pieces, slots, resampling) == []
    without = estimate_peak(slots, pieces, len(BANDS), dtype, "first", resampling)[1]
    per_pixel = 25 if resampling == "bilinear" else 9
    pixels = slots[0].target.shape[0] * slots[0].target.shape[1]
    assert counted - without == len(groups) * pixels * per_pixel
