"""cogdex's warp against GDAL's (rasterio.warp.reproject) on the same arrays.

Agreement is measured, not assumed: for nearest, both warpers sample an image of pixel
indices, so each target pixel's source pick is known on both sides; every disagreement must
be explained by a source coordinate lying within the coordinate error budget of the pixel
edge between the two picks (0.125 px with the approximate transformers, 1e-6 px exact).
For bilinear the values and validity masks are compared. docs/warp.md states the figures.
"""

from __future__ import annotations

import numpy as np
import pytest

from cogdex.read.grid import Grid, source_coords
from cogdex.read.warp import warp
from tests.read.reference import (
    LAEA,
    SINUSOIDAL,
    covering,
    gdal_coords,
    gdal_picks,
    gdal_warp,
    scene,
    utm43_source,
)

SRC = utm43_source()
GEO_SRC = Grid(4326, (1e-4, 0.0, 77.45, 0.0, -9e-5, 28.1), (512, 512))
CROSS = {
    "utm43-to-utm44": (SRC, covering(SRC, 32644, 10.0)),
    "utm-to-4326": (SRC, covering(SRC, 4326, (1e-4, 9e-5), tap=False)),
    "4326-to-utm": (GEO_SRC, covering(GEO_SRC, 32643, 10.0)),
    "utm-to-laea": (SRC, covering(SRC, LAEA, 10.0)),
}
MAX_DIFFERING = 0.005  # fraction of target pixels allowed to differ, in value or validity
BUDGET = {0.125: 0.125, 0.0: 1e-6}  # GDAL tolerance / cogdex approx_error -> edge budget


def _my_picks(source: Grid, target: Grid, approx_error: float) -> np.ndarray:
    index = np.arange(source.height * source.width, dtype=np.float64).reshape(1, *source.shape)
    out, _ = warp(index, source, target, nodata=-1.0, approx_error=approx_error)
    return out[0].astype(np.int64)


def _unexplained(source: Grid, target: Grid, mine, gdal, budget: float) -> np.ndarray:
    """Target pixels where the picks differ and no pixel edge within `budget` of the exact
    source coordinate separates them (nor the source boundary, when one side has none)."""
    sx, sy = source_coords(source, target, approx_error=0)
    w = source.width
    differ = mine != gdal
    both = differ & (mine >= 0) & (gdal >= 0)
    rm, cm, rg, cg = mine // w, mine % w, gdal // w, gdal % w
    col_edge = np.maximum(cm, cg)
    row_edge = np.maximum(rm, rg)
    near_col = (cm == cg) | ((np.abs(cm - cg) == 1) & (np.abs(sx - col_edge) <= budget))
    near_row = (rm == rg) | ((np.abs(rm - rg) == 1) & (np.abs(sy - row_edge) <= budget))
    bad = both & ~(near_col & near_row)
    # one side found no source pixel: the point must sit on the source's boundary
    one = differ & ~both
    to_edge = np.minimum.reduce(
        [np.abs(sx), np.abs(sx - w), np.abs(sy), np.abs(sy - source.height)]
    )
    return bad | (one & ~(to_edge <= budget))


@pytest.mark.parametrize("tolerance", [0.125, 0.0], ids=["approx", "exact"])
@pytest.mark.parametrize("case", [*CROSS, "utm-to-sinusoidal"])
def test_nearest_picks_match_gdal(case, tolerance):
    source, target = CROSS.get(case) or (SRC, covering(SRC, SINUSOIDAL, 9.0, tap=False))
    gdal = gdal_picks(source, target, tolerance=tolerance)
    mine = _my_picks(source, target, tolerance)
    assert (gdal >= 0).sum() > 0.3 * gdal.size  # the grids really overlap
    assert not _unexplained(source, target, mine, gdal, BUDGET[tolerance]).any()
    if case in CROSS or tolerance == 0:
        # GDAL splits the sheared sinusoidal warp into chunks whose scanlines restart at chunk
        # edges: approximated coordinates then differ within the budget, so picks near pixel
        # edges differ in a few percent of pixels; every other case must be a thin fraction
        assert np.mean(mine != gdal) <= MAX_DIFFERING


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("case", list(CROSS))
def test_uint16_scene_with_nodata_matches_gdal(case, resampling):
    source, target = CROSS[case]
    data = scene(*source.shape)[None]
    gdal = gdal_warp(data, source, target, resampling=resampling, nodata=0)
    mine, valid = warp(data, source, target, resampling=resampling, nodata=0)
    assert mine.dtype == np.uint16
    gdal_valid = gdal[0] != 0  # the scene has no valid zeros
    assert np.mean(valid != gdal_valid) <= MAX_DIFFERING
    both = valid & gdal_valid
    diff = np.abs(mine.astype(np.int64) - gdal)[0][both]
    assert np.mean(diff > 0) <= MAX_DIFFERING
    assert diff.max() <= (0 if resampling == "nearest" else 1)
    assert (mine[0][~valid] == 0).all()


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize(("dx", "dy"), [(300.0, -200.0), (-2000.0, 1500.0), (0.0, 0.0)])
def test_aligned_grids_are_a_window_cut_and_match_gdal(resampling, dx, dy):
    """Same CRS, integer pixel offsets (one hanging off the source): a plain cut."""
    data = scene(*SRC.shape)[None]
    a, b, c, d, e, f = SRC.transform
    target = Grid(SRC.crs, (a, b, c + dx, d, e, f + dy), (400, 450))
    mine, valid = warp(data, SRC, target, resampling=resampling, nodata=0)
    col, row = round(dx / a), round(dy / e)
    cut = np.zeros_like(mine)
    rows = slice(max(row, 0), min(row + 400, SRC.height))
    cols = slice(max(col, 0), min(col + 450, SRC.width))
    cut[:, rows.start - row : rows.stop - row, cols.start - col : cols.stop - col] = data[
        :, rows, cols
    ]
    assert mine.tobytes() == cut.tobytes()
    assert np.array_equal(valid, cut[0] != 0)
    gdal = gdal_warp(data, SRC, target, resampling=resampling, nodata=0)
    assert np.array_equal(mine, gdal)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize(("fx", "fy"), [(0.3, 0.7), (0.5, 0.5), (0.25, 0.0)])
def test_same_crs_subpixel_shift_matches_gdal(resampling, fx, fy):
    data = scene(*SRC.shape)[None]
    a, b, c, d, e, f = SRC.transform
    target = Grid(SRC.crs, (a, b, c + 37 * a + fx * a, d, e, f + 21 * e + fy * e), (480, 470))
    mine, valid = warp(data, SRC, target, resampling=resampling, nodata=0)
    gdal = gdal_warp(data, SRC, target, resampling=resampling, nodata=0)
    assert np.array_equal(valid, gdal[0] != 0)
    assert np.array_equal(mine, gdal)


def test_target_wholly_outside_is_all_fill():
    data = scene(*SRC.shape)[None]
    target = Grid(32644, (10.0, 0.0, 300000.0, 0.0, -10.0, 3300000.0), (64, 64))
    for resampling in ("nearest", "bilinear"):
        mine, valid = warp(data, SRC, target, resampling=resampling, nodata=0, fill=7)
        assert not valid.any() and (mine == 7).all()
        assert (gdal_warp(data, SRC, target, resampling=resampling, nodata=0) == 0).all()


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_partial_overlap_matches_gdal(resampling):
    data = scene(*SRC.shape)[None]
    full = CROSS["utm43-to-utm44"][1]
    left, _, _, top = full.bounds
    target = Grid(32644, (10.0, 0.0, left + 2500.0, 0.0, -10.0, top + 1200.0), (300, 300))
    mine, valid = warp(data, SRC, target, resampling=resampling, nodata=0)
    gdal = gdal_warp(data, SRC, target, resampling=resampling, nodata=0)
    assert 0.1 < valid.mean() < 0.9
    assert np.array_equal(valid, gdal[0] != 0) and np.array_equal(mine, gdal)


def test_downsampling_nearest_picks_like_gdal():
    """A target 4x coarser, across zones: nearest still takes the pixel under each centre."""
    data = scene(*SRC.shape)[None]
    target = covering(SRC, 32644, 40.0)
    mine, valid = warp(data, SRC, target, nodata=0)
    gdal = gdal_warp(data, SRC, target, nodata=0)
    assert valid.sum() > 0.5 * valid.size
    assert np.array_equal(valid, gdal[0] != 0) and np.array_equal(mine, gdal)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_float_with_nan_nodata_matches_gdal(resampling):
    raw = scene(*SRC.shape)
    data = (raw / 7.0).astype(np.float32)[None]
    data[0][raw == 0] = np.nan
    source, target = CROSS["utm43-to-utm44"]
    mine, valid = warp(data, source, target, resampling=resampling, nodata=np.nan)
    gdal = gdal_warp(data, source, target, resampling=resampling, nodata=np.nan)
    assert mine.dtype == np.float32
    assert np.array_equal(valid, ~np.isnan(gdal[0])) and np.isnan(mine[0][~valid]).all()
    assert np.array_equal(mine[:, valid], gdal[:, valid])


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_multiband_nodata_is_unified_like_gdal(resampling):
    """A pixel is empty only when every band is nodata (rasterio sets UNIFIED_SRC_NODATA)."""
    rng = np.random.default_rng(3)
    base = scene(*SRC.shape)
    data = np.stack([base, np.where(rng.random(base.shape) < 0.3, 0, base), base // 2])
    source, target = CROSS["utm43-to-utm44"]
    mine, valid = warp(data, source, target, resampling=resampling, nodata=0)
    gdal = gdal_warp(data, source, target, resampling=resampling, nodata=0)
    assert np.array_equal(mine, gdal)
    assert np.array_equal(valid, (gdal != 0).any(axis=0))


def test_bilinear_float32_output_keeps_fractions_like_gdal():
    data = scene(*SRC.shape)[None]
    source, target = CROSS["utm43-to-utm44"]
    mine, valid = warp(data, source, target, resampling="bilinear", nodata=0, dtype=np.float32)
    gdal = gdal_warp(data, source, target, resampling="bilinear", nodata=0, dtype=np.float32)
    assert mine.dtype == np.float32
    assert np.array_equal(valid, gdal[0] != 0)
    assert np.abs(mine - gdal)[:, valid].max() <= 1e-3
    assert np.mean(mine[:, valid] != np.round(mine[:, valid])) > 0.9  # fractions kept


@pytest.mark.parametrize("case", ["utm43-to-utm44", "same-crs-shift"])
def test_bilinear_next_to_scattered_nodata_matches_gdal(case):
    """Invalid neighbours are dropped and the weights renormalised; a pixel whose centre
    falls on an invalid source pixel stays empty, as in GDAL."""
    raw = scene(*SRC.shape)
    raw[np.random.default_rng(5).random(raw.shape) < 0.2] = 0
    data = raw[None]
    if case == "same-crs-shift":
        a, b, c, d, e, f = SRC.transform
        target = Grid(SRC.crs, (a, b, c + 0.4 * a, d, e, f + 0.7 * e), (500, 500))
    else:
        target = CROSS[case][1]
    mine, valid = warp(data, SRC, target, resampling="bilinear", nodata=0)
    gdal = gdal_warp(data, SRC, target, resampling="bilinear", nodata=0)
    assert np.array_equal(valid, gdal[0] != 0) and np.array_equal(mine, gdal)


@pytest.mark.parametrize("tolerance", [0.125, 0.01, 0.0005])
@pytest.mark.parametrize("case", ["utm-to-4326", "4326-to-utm"])
def test_approximate_coordinates_are_gdals(case, tolerance):
    """Small tolerances make GDAL split scanlines several times: the same splits, the same
    lines, the same coordinates (to float rounding)."""
    source, target = CROSS[case]
    gx, gy = gdal_coords(source, target, tolerance=tolerance)
    sx, sy = source_coords(source, target, approx_error=tolerance)
    ex, _ = source_coords(source, target, approx_error=0)
    known = ~np.isnan(gx)
    assert known.mean() > 0.5
    assert np.abs(gx - sx)[known].max() < 1e-9 and np.abs(gy - sy)[known].max() < 1e-9
    assert np.abs(ex - sx)[known].max() > 1e-6  # really approximated, not exact


@pytest.mark.parametrize("nodata", [0, None])
@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("offset", [(7, 3), (-4, -6)], ids=["inside", "over-edges"])
def test_pixel_edge_ties_in_degrees_match_gdal(resampling, nodata, offset):
    """A 0.1° grid shifted by half a pixel: every centre lands on a pixel edge, give or
    take float rounding, and must still go to the same pixel, and bilinear averages must
    round the same way, as in GDAL (with and without a validity mask)."""
    raw = scene(200, 300)
    source = Grid(4326, (0.1, 0.0, 10.0, 0.0, -0.1, 50.0), raw.shape)
    dx, dy = offset
    target = Grid(4326, (0.1, 0.0, 10.05 + 0.1 * dx, 0.0, -0.1, 49.95 - 0.1 * dy), (205, 310))
    mine, valid = warp(raw[None], source, target, resampling=resampling, nodata=nodata)
    gdal = gdal_warp(raw[None], source, target, resampling=resampling, nodata=nodata)
    assert np.array_equal(mine, gdal)
    if nodata is not None:
        assert np.array_equal(valid, gdal[0] != 0)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (32, 32), (100, 100)])
def test_small_chips_across_zones_match_gdal(resampling, shape):
    """Chips much smaller than a row's approximation span: exact rows (<= 5 pixels wide)
    and whole-chip lines alike. (Elongated chips, like 24 x 64 across these zones, make
    GDAL widen its bilinear kernel: docs/warp.md.)"""
    data = scene(*SRC.shape)[None]
    a, b, c, d, e, f = CROSS["utm43-to-utm44"][1].transform
    target = Grid(32644, (a, b, c + 1530.0, d, e, f - 2170.0), shape)
    mine, valid = warp(data, SRC, target, resampling=resampling, nodata=0)
    gdal = gdal_warp(data, SRC, target, resampling=resampling, nodata=0)
    assert valid.any() and np.array_equal(valid, gdal[0] != 0) and np.array_equal(mine, gdal)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize(
    ("shape", "nodata"), [((1, 1), 0), ((2, 6), 0), ((6, 2), 0), ((1, 6), None), ((6, 1), None)]
)
def test_tiny_sources_match_gdal(resampling, shape, nodata):
    """Sources with no whole 2x2 block inside. (GDAL's bilinear with a validity mask on a
    source one pixel high or wide degenerates to nearest along it: docs/warp.md.)"""
    data = (np.arange(np.prod(shape), dtype=np.uint16) * 100 + 500).reshape(1, *shape)
    source = Grid(32643, (10.0, 0.0, 740000.0, 0.0, -10.0, 3110000.0), shape)
    target = Grid(32643, (2.0, 0.0, 739992.0, 0.0, -2.0, 3110008.0), (40, 40))
    mine, valid = warp(data, source, target, resampling=resampling, nodata=nodata)
    gdal = gdal_warp(data, source, target, resampling=resampling, nodata=nodata)
    assert valid.any() and np.array_equal(valid, gdal[0] != 0) and np.array_equal(mine, gdal)
