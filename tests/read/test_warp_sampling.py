"""Warps that share their sample points (`warp.Sampling`) give each warp's own pixels."""

from __future__ import annotations

import numpy as np
import pytest

from cogdex.read.grid import CoordinateMap, Grid
from cogdex.read.warp import Sampling, warp
from tests.read.reference import covering, scene, utm43_source

SRC = utm43_source()
TARGETS = {
    "other zone": covering(SRC, 32644, (10.0, 10.0), tap=False),
    "degrees": covering(SRC, 4326, (1e-4, 9e-5), tap=False),
}


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("target", list(TARGETS.values()), ids=list(TARGETS))
def test_bands_sharing_points_warp_like_each_alone(target: Grid, resampling):
    """Several bands (different pixels and nodata) through one `Sampling`: each equals its
    own warp bit for bit, masks included, and the last user drops the points."""
    coords = CoordinateMap(SRC, target)
    bands = [scene(*SRC.shape, seed=seed)[None] for seed in range(3)]
    nodatas = [0, None, 3000]
    shared = Sampling(coords, SRC.shape, target.shape, resampling, users=len(bands))
    for data, nodata in zip(bands, nodatas, strict=True):
        alone = warp(data, SRC, target, resampling=resampling, nodata=nodata, coords=coords)
        out = np.empty_like(alone[0])
        got = warp(data, SRC, target, resampling=resampling, nodata=nodata, sampling=shared,
                   out=out)  # fmt: skip
        shared.done()
        assert got[0] is out
        assert np.array_equal(got[0], alone[0]) and np.array_equal(got[1], alone[1])
    assert shared._points is None  # released by its last user


def test_points_made_for_other_grids_are_refused():
    target = TARGETS["other zone"]
    shared = Sampling(CoordinateMap(SRC, target), SRC.shape, target.shape, "nearest", users=1)
    data = scene(*SRC.shape)[None]
    with pytest.raises(ValueError, match="other grids"):
        warp(data, SRC, target, resampling="bilinear", sampling=shared)
