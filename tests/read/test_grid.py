"""Grids: construction rules, alignment, source windows, and the coordinate mapping."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyproj
import pytest
import shapely
from rasterio.warp import transform_bounds

from cogdex.read.grid import (
    CoordinateMap,
    Grid,
    aligned,
    aligned_window,
    geometry_bounds,
    sampled_window,
    source_coords,
    source_window,
    transformer,
)
from cogdex.read.warp import warp
from cogdex.read.window import Window
from tests.read.reference import LAEA, covering, scene, utm43_source

SRC = utm43_source()


def test_grid_is_plain_hashable_picklable_data():
    g = Grid("EPSG:32643", (10, 0, 740000, 0, -10, 3110000), (512.0, 512))
    assert g.crs == 32643 and g.shape == (512, 512)
    assert all(isinstance(v, float) for v in g.transform)
    assert pickle.loads(pickle.dumps(g)) == g and hash(g) == hash(SRC)
    assert Grid(pyproj.CRS(32643), g.transform, g.shape) == g
    wkt = Grid(pyproj.CRS(LAEA), g.transform, g.shape)
    assert isinstance(wkt.crs, str) and wkt.pyproj_crs.equals(pyproj.CRS(LAEA))
    assert g.res == (10.0, 10.0) and g.bounds == (740000.0, 3104880.0, 745120.0, 3110000.0)


@pytest.mark.parametrize(
    ("transform", "shape", "message"),
    [
        ((10, 0, 0, 0, 0, 0), (1, 1), "invertible"),
        ((10, 0, 0, 0, -10), (1, 1), "6 finite"),
        ((10, 0, np.nan, 0, -10, 0), (1, 1), "finite"),
        ((10, 0, 0, 0, -10, 0), (-1, 1), "non-negative"),
    ],
)
def test_grid_rejects_bad_values(transform, shape, message):
    with pytest.raises(ValueError, match=message):
        Grid(4326, transform, shape)


def test_from_bounds_covers_and_tap_snaps_to_the_resolution():
    plain = Grid.from_bounds(32643, (100003.0, 200001.0, 100051.0, 200032.0), 10)
    assert plain.transform == (10.0, 0.0, 100003.0, 0.0, -10.0, 200032.0)
    assert plain.shape == (4, 5)  # 31 m -> 4 rows, 48 m -> 5 columns: bounds covered
    tap = Grid.from_bounds(32643, (100003.0, 200001.0, 100051.0, 200032.0), 10, tap=True)
    assert tap.bounds == (100000.0, 200000.0, 100060.0, 200040.0)
    # bounds already on the lattice, even with float noise, gain no pixel
    deg = Grid.from_bounds(4326, (12.3, 45.1, 12.5, 45.2), 0.1, tap=True)
    assert deg.shape == (1, 2)
    nudged = Grid.from_bounds(32643, (0.0, 0.0, 100.0 + 1e-9, 100.0), 10, tap=True)
    assert nudged.shape == (10, 10)
    with pytest.raises(ValueError, match="positive"):
        Grid.from_bounds(32643, (0, 0, 1, 1), 0)
    with pytest.raises(ValueError, match="right > left"):
        Grid.from_bounds(32643, (1, 0, 0, 1), 1)


def test_geometry_bounds_densify_edges_like_gdal():
    box = (73.0, 27.0, 77.0, 30.0)  # around 43N's central meridian: parallels sag in between
    corners = np.array([(73.0, 27.0), (77.0, 27.0), (73.0, 30.0), (77.0, 30.0)])
    _, y = transformer(4326, 32643).transform(corners[:, 0], corners[:, 1])
    mine = geometry_bounds(box, 32643)
    gdal = transform_bounds("EPSG:4326", "EPSG:32643", *box, densify_pts=100)
    assert np.allclose(mine, gdal, atol=1.0)
    assert mine[1] < min(y) - 1000  # the bottom edge sags below its corners
    poly = shapely.Polygon([(73.0, 30.0), (77.0, 27.0), (77.0, 30.0)])
    assert geometry_bounds(poly, 32643)[0] > mine[0]  # a triangle, not its bounding box
    g = Grid.from_geometry(box, 32643, 20.0)
    assert g.crs == 32643 and g.transform[2] % 20 == 0 and g.transform[5] % 20 == 0
    left, bottom, right, top = g.bounds
    assert left <= mine[0] and bottom <= mine[1] and right >= mine[2] and top >= mine[3]


def test_aligned_needs_same_crs_resolution_and_whole_pixel_offsets():
    a, b, c, d, e, f = SRC.transform
    shifted = Grid(SRC.crs, (a, b, c - 30.0, d, e, f + 50.0), (100, 80))
    assert aligned_window(SRC, shifted) == Window(-3, -5, 80, 100) and aligned(SRC, shifted)
    assert not aligned(SRC, Grid(SRC.crs, (a, b, c + 3.0, d, e, f), (100, 80)))
    assert not aligned(SRC, Grid(SRC.crs, (a * 1.0001, b, c, d, e, f), (10000, 10000)))
    assert not aligned(SRC, Grid(32644, SRC.transform, SRC.shape))
    assert aligned(SRC, Grid(SRC.crs, (a, b, c + 20 + 1e-9, d, e, f), (100, 80)))
    assert aligned(SRC, Grid(pyproj.CRS(32643).to_wkt(), SRC.transform, (4, 4)))


def test_window_grid_locates_a_window():
    sub = SRC.window_grid(Window(col_off=-4, row_off=10, width=30, height=20))
    assert sub.transform == (10.0, 0.0, 739960.0, 0.0, -10.0, 3109900.0)
    assert sub.shape == (20, 30) and aligned_window(SRC, sub) == Window(-4, 10, 30, 20)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize(
    "target",
    [
        covering(SRC, 32644, 10.0),  # all of the source, across zones
        Grid(32644, (10.0, 0.0, 152000.0, 0.0, -10.0, 3110000.0), (120, 150)),  # inside
        Grid(32644, (10.0, 0.0, 149000.0, 0.0, -10.0, 3113500.0), (100, 200)),  # over an edge
        Grid(LAEA, (7.0, 0.0, -3000.0, 0.0, -7.0, 9000.0), (300, 300)),  # finer, elsewhere
        Grid(32643, (10.0, 0.0, 741003.0, 0.0, -10.0, 3108004.0), (50, 60)),  # same CRS shift
        Grid(32643, (10.0, 0.0, 741000.0, 0.0, -10.0, 3108000.0), (50, 60)),  # aligned
    ],
    ids=["all", "inside", "edge", "laea", "shift", "aligned"],
)
def test_a_cut_to_source_window_warps_like_the_whole_source(target, resampling):
    data = scene(*SRC.shape)[None]
    win = source_window(SRC, target, resampling=resampling)
    assert win is not None
    cut = data[:, win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width]
    whole, whole_ok = warp(data, SRC, target, resampling=resampling, nodata=0)
    part, part_ok = warp(cut, SRC.window_grid(win), target, resampling=resampling, nodata=0)
    assert np.array_equal(whole, part) and np.array_equal(whole_ok, part_ok)
    assert whole_ok.any()
    if target.width < 300:  # a small target must not read the whole source
        assert win.height * win.width < 0.25 * SRC.height * SRC.width


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("approx_error", [0.125, 0.002, 0.0])  # lines, split lines, exact
@pytest.mark.parametrize(
    "target",
    [
        covering(SRC, 32644, 10.0),  # all of the source, across zones
        Grid(32644, (10.0, 0.0, 149000.0, 0.0, -10.0, 3113500.0), (100, 200)),  # over an edge
        covering(SRC, 4326, (1e-4, 9e-5), tap=False),  # degrees: points redone on edges
    ],
    ids=["all", "edge", "degrees"],
)
def test_blocks_of_a_target_warp_exactly_like_the_whole_target(target, approx_error, resampling):
    """A block maps with the whole target's coordinates (whole rows, the same row ends),
    reads only the source window they sample, and gets the whole warp's pixels there."""
    data = scene(*SRC.shape)[None]
    whole, whole_ok = warp(data, SRC, target, resampling=resampling, nodata=0,
                           approx_error=approx_error)  # fmt: skip
    everywhere = np.stack(source_coords(SRC, target, approx_error=approx_error))
    h, w = target.shape
    for r0, c0 in ((r, c) for r in range(0, h, 37) for c in range(0, w, 53)):
        block = Window(c0, r0, min(53, w - c0), min(37, h - r0))
        rows, cols = slice(r0, r0 + block.height), slice(c0, c0 + block.width)
        coords = CoordinateMap(SRC, target, approx_error=approx_error, window=block)
        assert np.array_equal(np.stack(coords(0, block.height)), everywhere[:, rows, cols],
                              equal_nan=True)  # fmt: skip
        win = sampled_window(coords, SRC.shape, resampling=resampling)
        if win is None:
            assert not whole_ok[rows, cols].any()
            continue
        cut = data[:, win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width]
        part, part_ok = warp(
            cut, SRC.window_grid(win), target.window_grid(block), resampling=resampling,
            nodata=0, coords=coords.shifted(win),
        )  # fmt: skip
        assert np.array_equal(part, whole[:, rows, cols])
        assert np.array_equal(part_ok, whole_ok[rows, cols])


def test_coordinate_map_window_must_lie_in_the_target():
    with pytest.raises(ValueError, match="block"):
        CoordinateMap(SRC, SRC, window=Window(0, 500, 10, 20))


def test_source_window_is_none_without_overlap():
    assert source_window(SRC, Grid(32644, (10.0, 0.0, 3e5, 0.0, -10.0, 3.3e6), (64, 64))) is None
    assert source_window(SRC, Grid(32643, (10.0, 0.0, 0.0, 0.0, -10.0, 0.0), (64, 64))) is None
    assert source_window(SRC, Grid(32643, SRC.transform, (0, 10))) is None


def test_approximate_coordinates_stay_within_budget_and_exact_on_edges():
    target = covering(SRC, 4326, (1e-4, 9e-5), tap=False)
    ax, ay = source_coords(SRC, target)
    ex, ey = source_coords(SRC, target, approx_error=0)
    err = np.abs(ax - ex) + np.abs(ay - ey)
    assert 0 < err.max() <= 0.125
    h, w = SRC.shape
    outside = np.maximum.reduce([-ax, ax - w, -ay, ay - h])
    rim = (outside > 0) & (outside < 1)
    assert rim.any() and (err[rim] == 0).all()  # points put just outside were redone exactly


def test_points_outside_the_projection_fail_as_nan_and_stay_empty():
    ortho = Grid("+proj=ortho +lat_0=28 +lon_0=77.5 +R=6371000", (1e4, 0, -6e6, 0, -1e4, 6e6),
                 (1200, 1200))  # fmt: skip
    world = Grid(4326, (1.0, 0.0, -180.0, 0.0, -1.0, 90.0), (180, 360))
    sx, sy = source_coords(ortho, world)
    assert np.isnan(sx).mean() > 0.3 and np.isfinite(sx).mean() > 0.3
    assert np.array_equal(np.isnan(sx), np.isnan(sy))
    data = np.ones((1, *ortho.shape), np.uint8)
    out, valid = warp(data, ortho, world, resampling="bilinear")
    assert valid.mean() > 0.3 and not valid[np.isnan(sx)].any() and (out[0][~valid] == 0).all()


def _warp_in_child(args):
    data, target = args
    return warp(data, SRC, target, resampling="bilinear", nodata=0)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_transformers_are_shared_across_threads_and_rebuilt_after_fork():
    """Forking is the point (DataLoader workers fork a process that has warped before)."""
    assert transformer(32643, 32644) is transformer(32643, 32644)
    data = scene(*SRC.shape)[None]
    targets = [covering(SRC, crs, res) for crs, res in [(32644, 10.0), (LAEA, 10.0)]] * 4
    expected = [warp(data, SRC, t, resampling="bilinear", nodata=0) for t in targets]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: warp(data, SRC, t, resampling="bilinear", nodata=0), targets))
    for (a, a_ok), (b, b_ok) in zip(expected, got, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a_ok, b_ok)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child, child_ok = pool.map(_warp_in_child, [(data, targets[0])])[0]
    assert np.array_equal(child, expected[0][0]) and np.array_equal(child_ok, expected[0][1])
