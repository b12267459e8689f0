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


def test_points_prepared_ahead_serve_every_warp():
    """`prepare` (a read runs it while its tiles are in flight) works the points out once:
    the warps then use those very points and equal their own warps; once every user is
    done, `prepare` builds nothing that no warp would free."""
    target = TARGETS["other zone"]
    coords = CoordinateMap(SRC, target)
    shared = Sampling(coords, SRC.shape, target.shape, "nearest", users=2)
    shared.prepare()
    ready = shared._points
    assert ready is not None
    data = scene(*SRC.shape)[None]
    alone = warp(data, SRC, target, coords=coords)
    for _ in range(2):
        got = warp(data, SRC, target, sampling=shared)
        assert shared._points is ready  # not computed again
        shared.done()
        assert np.array_equal(got[0], alone[0]) and np.array_equal(got[1], alone[1])
    shared.prepare()
    assert shared._points is None
