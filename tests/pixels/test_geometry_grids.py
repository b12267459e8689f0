"""Areas given in a projected CRS get the grid rasterio computes from the same bounds: the
geometry is never sent through lon/lat and back (which added a row and a column)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.compute as pc
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_bounds
from rasterio.warp import aligned_target
from rasterio.windows import Window
from rasterio.windows import from_bounds as window_from_bounds
from rasterio.windows import transform as window_transform

from cogdex.read import grid as G
from tests.servers.scenes import AOI_LONLAT, SceneSet

# (target CRS, resolution): UTM north and south, geographic (a binary fraction of a degree,
# so that multiples of it are exact), Web Mercator
TARGETS = [(32644, 10.0), (32744, 10.0), (4326, 2.0**-13), (3857, 10.0)]


def _box_in(crs: int, res: float, offset: tuple[float, float]) -> tuple[float, ...]:
    """A 235 x 205 pixel box near the AOI in `crs`, on multiples of `res` plus `offset`
    (fractions of a pixel)."""
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(*AOI_LONLAT)
    left = math.floor(x / res) * res + offset[0] * res
    bottom = math.floor(y / res) * res + offset[1] * res
    return left, bottom, left + 235 * res, bottom + 205 * res


def _rasterio_window(bounds, transform) -> Window:
    """rasterio's window of `bounds`, grown to whole pixels."""
    w = window_from_bounds(*bounds, transform=transform)
    c0, r0 = math.floor(w.col_off + 1e-6), math.floor(w.row_off + 1e-6)
    c1 = math.ceil(w.col_off + w.width - 1e-6)
    r1 = math.ceil(w.row_off + w.height - 1e-6)
    return Window(c0, r0, c1 - c0, r1 - r0)


@pytest.fixture(scope="module")
def zone44(pixel_coll):
    return pixel_coll.where(pc.field("epsg") == 32644)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.37, 0.81)], ids=["aligned", "unaligned"])
def test_utm_box_on_the_record_lattice_equals_rasterio_window(zone44, scenes: SceneSet, offset):
    scene = next(s for s in scenes.scenes if s.id == zone44.ids[0])
    bounds = _box_in(32644, 10.0, offset)
    data, table = zone44.get_numpy(shapely.box(*bounds), "B04", geometry_crs=32644,
                                   return_table=True)  # fmt: skip
    want = _rasterio_window(bounds, scene.transform)
    assert data.shape[1:] == (want.height, want.width)
    if offset == (0.0, 0.0):
        assert data.shape[1:] == (205, 235)
    got = table.column("transform")[0].as_py()
    assert tuple(got) == tuple(window_transform(want, scene.transform))[:6]
    with rasterio.open(scene.files["B04"]) as ds:
        np.testing.assert_array_equal(data[0], ds.read(1, window=want, boundless=True))


@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.37, 0.81)], ids=["aligned", "unaligned"])
@pytest.mark.parametrize(("crs", "res"), TARGETS, ids=[str(c) for c, _ in TARGETS])
def test_box_in_the_target_crs_gets_rasterio_aligned_target(pixel_coll, crs, res, offset):
    bounds = _box_in(crs, res, offset)
    data, table = pixel_coll.get_numpy(shapely.box(*bounds), "B04", geometry_crs=crs, crs=crs,
                                       resolution=res, return_table=True)  # fmt: skip
    transform, width, height = aligned_target(from_bounds(*bounds, 1, 1), 1, 1, res)
    assert data.shape[1:] == (height, width)
    if offset == (0.0, 0.0):
        assert data.shape[1:] == (205, 235)
    for got in table.column("transform").to_pylist():
        np.testing.assert_allclose(got, tuple(transform)[:6], rtol=0, atol=res * 1e-9)
    assert G.Grid.from_bounds(crs, bounds, res, tap=True).shape == (height, width)


def test_polygon_mask_is_cut_in_the_geometry_crs(zone44):
    left, bottom, right, top = _box_in(32644, 10.0, (0.0, 0.0))
    triangle = shapely.Polygon([(left, bottom), (right, bottom), (left, top)])
    data, valid, table = zone44.get_numpy(triangle, "B04", geometry_crs=32644, mask=True,
                                          return_mask=True, return_table=True)  # fmt: skip
    a, _, c, _, e, f = table.column("transform")[0].as_py()
    assert (c, f) == (left, top)
    rows, cols = np.mgrid[0 : data.shape[1], 0 : data.shape[2]] + 0.5
    inside = shapely.contains_xy(triangle, c + a * cols, f + e * rows)
    assert (valid[0] == (inside & (data[0] != 0))).all()
    assert (data[0][~inside] == 0).all()


@pytest.mark.parametrize("crs", [32644, 4326], ids=["record-crs", "lonlat"])
def test_point_sized_and_flat_boxes_read_as_the_point_and_line_they_are(zone44, crs):
    """A bbox of zero width and height (a point given as a box) or of zero height (a
    transect) is a valid bbox: it reads and filters as the Point or LineString it
    is. GEOS cannot densify such polygons for their lon/lat copy: a raw GEOSException came
    back for the point, and a GeometryError about NaN bounds for the line."""
    x, y = (v + 5.0 for v in _box_in(32644, 10.0, (0.0, 0.0))[:2])  # a pixel centre
    step = 95.0
    if crs == 4326:
        to_lonlat = Transformer.from_crs(32644, 4326, always_xy=True).transform
        (x, x1), (y, _) = to_lonlat([x, x + step], [y, y])
        step = x1 - x
    cases = [((x, y, x, y), shapely.Point(x, y)),
             ((x, y, x + step, y), shapely.LineString([(x, y), (x + step, y)]))]  # fmt: skip
    for box, shape in cases:
        boxed = zone44.get_numpy(box, "B04", geometry_crs=crs)
        assert boxed.size and np.array_equal(
            boxed, zone44.get_numpy(shape, "B04", geometry_crs=crs)
        )
        kept = zone44.subset(geometries=box, geometry_crs=crs).ids
        assert kept and kept == zone44.subset(geometries=shape, geometry_crs=crs).ids
