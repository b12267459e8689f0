"""A file across the antimeridian, indexed from its header: its footprint is cut at 180
degrees into a MultiPolygon (RFC 7946), so reads over either side find it and reads far away
do not. As one lon/lat polygon its ring enclosed the rest of the world: a read over the
file found no record (an empty result), and one on the other side of the globe found it."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import Affine

import cogdex
from cogdex.errors import EmptyReadWarning, GeometryError
from cogdex.testing import write_cog


@pytest.fixture(scope="module")
def across(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("antimeridian")
    x, y = pyproj.Transformer.from_crs(4326, 32660, always_xy=True).transform(179.98, 10.02)
    transform = Affine(10, 0, round(x) - 2000, 0, -10, round(y) + 2000)  # 179.96E..179.999W
    data = np.random.default_rng(0).integers(1, 5000, (1, 512, 512), dtype=np.uint16)
    path = tmp / "across.tif"
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32660", "transform": transform, "tiled": True,
               "blockxsize": 256, "blockysize": 256}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    table = pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [str(path)]})
    pq.write_table(table, tmp / "t.parquet")
    coll = cogdex.build_from_table(tmp / "t.parquet", name="across", cache_dir=tmp / "cache")
    return coll, path


def test_the_footprint_is_cut_at_the_antimeridian(across):
    coll, _ = across
    footprint = shapely.from_wkb(coll.to_arrow().column("geometry")[0].as_py())
    assert footprint.geom_type == "MultiPolygon"
    west, east = sorted(shapely.get_parts(footprint), key=lambda p: p.bounds[0])
    assert west.bounds[0] == -180 and -180 < west.bounds[2] < -179.9
    assert 179.9 < east.bounds[0] < 180 and east.bounds[2] == 180


def _equals_the_files_window(data, table, path) -> None:
    """The one image read equals the file's pixels at its grid's place (10 m pixels)."""
    transform = Affine(*table.column("transform")[0].as_py()[:6])
    with rasterio.open(path) as ds:
        col = round((transform.c - ds.transform.c) / 10)
        row = round((transform.f - ds.transform.f) / -10)
        window = rasterio.windows.Window(col, row, data.shape[2], data.shape[1])
        np.testing.assert_array_equal(data[0], ds.read(1, window=window, boundless=True))


@pytest.mark.parametrize("aoi", [(179.97, 10.01, 179.99, 10.03), (-179.999, 10.01, -179.99, 10.03)],
                         ids=["east", "west"])  # fmt: skip
def test_boxes_on_either_side_read_the_files_pixels(across, aoi):
    coll, path = across
    data, table = coll.get_numpy(aoi, ["data"], return_table=True)
    assert data.shape[0] == 1 and data.size > 0
    _equals_the_files_window(data, table, path)


def test_a_box_on_the_other_side_of_the_globe_meets_no_record(across):
    coll, _ = across
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = coll.get_numpy((0.0, 10.01, 0.02, 10.03), ["data"])
    assert data.shape[0] == 0
    assert any(issubclass(w.category, EmptyReadWarning) for w in caught)


EUROPE = (5.0, 5.0, 15.0, 15.0)


@pytest.mark.parametrize("lazy", [False, True], ids=["in-memory", "loaded-lazily"])
def test_subset_by_bbox_meets_such_a_record_only_on_its_sides(across, lazy):
    """Its stored bbox is -180..180 (the bounds of the split footprint), so the bbox filter
    kept it at every longitude: a box over Europe returned this Pacific scene."""
    coll, _ = across
    coll = cogdex.load(coll.location) if lazy else coll
    assert coll.subset(bbox=EUROPE).ids == []
    assert coll.subset(bbox=(179.97, 10.01, 179.99, 10.03)).ids == ["a"]
    assert coll.subset(bbox=(-179.999, 10.01, -179.99, 10.03)).ids == ["a"]
    assert coll.subset(bbox=(-180.0, 10.01, -180.0, 10.03)).ids == ["a"]  # edges touch
    assert coll.subset(bbox=(-179.99, 11.0, 179.99, 12.0)).ids == []  # its latitudes miss


def test_subset_by_bbox_keeps_ordinary_records_beside_such_a_record(across, tmp_path):
    """The refinement tests the records spanning every longitude only: one next to Europe
    stays, matched by the pyarrow bounds alone."""
    _, path = across
    near = write_cog(
        tmp_path / "near.tif", np.ones((64, 64), np.uint16), 4326, (0.1, 0, 6.0, 0, -0.1, 14.0)
    )
    table = pa.table({"id": ["a", "near"], "datetime": ["2024-01-01"] * 2,
                      "href": [str(path), str(near)]})  # fmt: skip
    both = cogdex.build_from_table(table, name="both", cache=False)
    assert both.subset(bbox=EUROPE).ids == ["near"]
    assert sorted(both.subset(bbox=(-180, -90, 180, 90)).ids) == ["a", "near"]


def test_a_projected_area_across_the_antimeridian_meets_only_records_under_it(across, tmp_path):
    """A UTM 60N box over 180E went to lon/lat as one polygon whose ring jumps from +180
    to -180: a band around the rest of the globe at its latitudes, which met a record on
    the far side; cut as the footprints are, it meets the scene under it only."""
    _, path = across
    far = write_cog(tmp_path / "far.tif", np.ones((64, 64), np.uint16), 4326,
                    (0.01, 0, 0.0, 0, -0.01, 10.5))  # fmt: skip  # 0..0.64E, 9.86..10.5N
    table = pa.table({"id": ["a", "far"], "datetime": ["2024-01-01"] * 2,
                      "href": [str(path), str(far)]})  # fmt: skip
    both = cogdex.build_from_table(table, name="both", cache=False)
    x, y = pyproj.Transformer.from_crs(4326, 32660, always_xy=True).transform(180.0, 10.02)
    area = shapely.box(x - 1000, y - 1000, x + 1000, y + 1000)
    assert both.subset(geometries=area, geometry_crs=32660).ids == ["a"]
    data, table = both.get_numpy(area, ["data"], geometry_crs=32660, return_table=True)
    assert table.column("id").to_pylist() == ["a"] and data.shape[0] == 1


SPLIT = shapely.MultiPolygon(
    [shapely.box(179.97, 10.01, 180, 10.03), shapely.box(-180, 10.01, -179.99, 10.03)]
)  # a lon/lat area across 180, cut there as RFC 7946 asks


def test_a_split_lonlat_area_reads_the_files_pixels_in_its_projected_grid(across):
    coll, path = across
    data, table = coll.get_numpy(SPLIT, ["data"], return_table=True)
    assert data.shape[0] == 1 and data.shape[2] > 1.5 * data.shape[1]  # both sides, one grid
    _equals_the_files_window(data, table, path)


def test_an_area_across_the_antimeridian_is_refused_as_a_lonlat_grid(across):
    """Its grid was cut from its planar bounds, -180..180: 360,000 columns at 0.001
    degrees, all but ~40 of them fill."""
    coll, _ = across
    x, y = pyproj.Transformer.from_crs(4326, 32660, always_xy=True).transform(180.0, 10.02)
    for area, kwargs in [
        (SPLIT, {}),
        (SPLIT.wkt, {}),
        (shapely.geometry.mapping(SPLIT), {}),
        (shapely.box(x - 1000, y - 1000, x + 1000, y + 1000), {"geometry_crs": 32660}),
    ]:
        with pytest.raises(GeometryError, match="crosses the antimeridian") as err:
            coll.get_numpy(area, ["data"], crs=4326, resolution=0.001, **kwargs)
        assert err.value.argument == "crs" and "UTM zone 1 or 60" in str(err.value)
    assert coll.subset(geometries=SPLIT).ids == ["a"]  # a filter takes it


def test_a_split_lonlat_area_read_in_epsg3832_matches_gdals_warp(across):
    """Onto a grid in a CRS continuous across 180 (PDC Mercator), both sides of the area
    are one grid, and its pixels are those rasterio's warp puts there (nearest)."""
    from rasterio.warp import Resampling, reproject

    coll, path = across
    data, table = coll.get_numpy(
        SPLIT, ["data"], crs=3832, resolution=10.0, resampling="nearest", return_table=True
    )
    assert table.column("crs")[0].as_py() == "3832"
    x0, _, x1, _ = pyproj.Transformer.from_crs(4326, 3832, always_xy=True).transform_bounds(
        179.97, 10.01, 180.01, 10.03
    )
    assert data.shape[2] == pytest.approx((x1 - x0) / 10, abs=2)  # both sides: ~0.04 deg
    transform = Affine(*table.column("transform")[0].as_py()[:6])
    want = np.zeros(data.shape[1:], np.uint16)
    with rasterio.open(path) as ds:
        reproject(rasterio.band(ds, 1), want, dst_transform=transform, dst_crs="EPSG:3832",
                  resampling=Resampling.nearest, dst_nodata=0)  # fmt: skip
    assert (want > 0).mean() > 0.5  # the file is there
    assert np.mean(data[0] != want) <= 0.005  # GDAL's approximate transformer: edge picks
