"""Areas and points as users pass them: bboxes checked the same way everywhere, one
behaviour for geometries that meet no record, and GeoPandas/GeoJSON with their own CRS."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cogdex
from cogdex.cli import main
from cogdex.errors import EmptyReadWarning, GeometryError
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
AOI = (LON - 0.01, LAT - 0.008, LON + 0.012, LAT + 0.01)
SWAPPED = (LAT - 0.008, LON - 0.01, LAT + 0.01, LON + 0.012)  # in range, but over Russia
BAD_BBOXES = {
    "ymin > ymax": (AOI[0], AOI[3], AOI[2], AOI[1]),
    "finite": (AOI[0], AOI[1], math.nan, AOI[3]),
    "lat and lon swapped": (37.7, -122.5, 37.8, -122.4),  # San Francisco, swapped
}
ACROSS = (AOI[2], AOI[1], AOI[0], AOI[3])  # west > east: across the antimeridian


def _reads(coll):
    """Every read call that takes an area, as (name, call(area, **kwargs))."""
    return {
        "subset": lambda g, **k: coll.subset(geometries=g, **k),
        "get_numpy": lambda g, **k: coll.get_numpy(g, "B04", **k),
        "get_time_series": lambda g, **k: coll.get_time_series(g, "B04", **k),
        "get_xarray": lambda g, **k: coll.get_xarray(g, "B04", **k),
    }


@pytest.mark.parametrize("problem", list(BAD_BBOXES))
def test_bad_bboxes_raise_one_error_everywhere(pixel_coll, stac_files, tmp_path, problem):
    box = BAD_BBOXES[problem]
    calls = {**_reads(pixel_coll), "subset(bbox=)": lambda b: pixel_coll.subset(bbox=b)}
    for name, call in calls.items():
        with pytest.raises(GeometryError, match=problem) as err:
            call(box)
        assert "(xmin, ymin, xmax, ymax) in lon/lat" in str(err.value), name
        assert isinstance(err.value, ValueError)
    with pytest.raises(GeometryError, match=problem) as err:
        cogdex.build_from_stac(stac_files.items_json, name="bad", bbox=box, cache_dir=tmp_path)
    assert err.value.argument == "bbox" and str(box[0])[:6] in str(err.value)


def test_a_read_over_a_box_across_the_antimeridian_says_what_to_pass_instead(pixel_coll):
    """Its output grid would cross 180 degrees in lon/lat: refused, naming the coordinates,
    the box's two sides and a projected CRS; a filter takes the box (its two sides)."""
    for name, call in _reads(pixel_coll).items():
        if name == "subset":
            continue
        with pytest.raises(GeometryError, match="xmin > xmax") as err:
            call(ACROSS)
        west, east = (f"{v:g}" for v in (ACROSS[0], ACROSS[2]))
        assert f"west {west} > east {east}" in str(err.value), name
        assert f"({west}, {ACROSS[1]:g}, 180, {ACROSS[3]:g})" in str(err.value), name
        assert f"(-180, {ACROSS[1]:g}, {east}, {ACROSS[3]:g})" in str(err.value), name
        assert "geometry_crs=" in str(err.value) and err.value.argument == "geometries"
    sides = [(ACROSS[0], ACROSS[1], 180, ACROSS[3]), (-180, ACROSS[1], ACROSS[2], ACROSS[3])]
    found = pixel_coll.subset(geometries=ACROSS).ids
    assert found == pixel_coll.subset(geometries=sides).ids and found


def test_bad_bbox_in_the_cli_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["collections", "build", "--stac", "x.json", "--name", "n", "--bbox", "78,21,79,20"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--bbox must be (xmin, ymin, xmax, ymax)" in err and "ymin > ymax" in err


def test_projected_bboxes_are_checked_in_their_crs(pixel_coll):
    with pytest.raises(GeometryError, match=r"in 32644, got \(190000.0"):
        pixel_coll.get_numpy((190000, 2.2e6, 189000, 2.21e6), "B04", geometry_crs=32644)
    with pytest.raises(GeometryError, match="bounds in lon/lat"):  # outside UTM's domain
        pixel_coll.get_numpy((1e9, 2.2e6, 1e9 + 10, 2.21e6), "B04", geometry_crs=32644)
    with pytest.raises(GeometryError, match="points"):
        pixel_coll.sample_points((np.array([LAT]), np.array([-100.0])), "B04")


def test_a_geometry_that_meets_no_record_gives_an_empty_result_and_a_warning(pixel_coll):
    bounds = r"bounds \(19\.992, 77\.99"
    with pytest.warns(EmptyReadWarning, match=bounds):
        data = pixel_coll.get_numpy(SWAPPED, ["B04", "B08"])
    assert data.shape == (0, 2, 0, 0)
    with pytest.warns(EmptyReadWarning, match=bounds):
        series, dates = pixel_coll.get_time_series(SWAPPED, "B04")
    assert series.shape == (0, 0, 0) and dates.shape == (0,)
    with pytest.warns(EmptyReadWarning, match=bounds):
        ds = pixel_coll.get_xarray(SWAPPED, ["B04", "B08"])
    assert ds["B04"].dims == ("time", "y", "x") and ds["B08"].shape == (0, 0, 0)
    with pytest.warns(EmptyReadWarning, match=r"bounds \(19\.992, 77\.99"):
        table = pixel_coll.sample_points(([SWAPPED[0]], [SWAPPED[1]]), "B04")
    assert table.num_rows == 0
    assert len(pixel_coll.subset(geometries=SWAPPED)) == 0


def test_of_several_geometries_only_those_that_meet_nothing_are_named(pixel_coll):
    with pytest.warns(EmptyReadWarning, match="geometry 1 with") as caught:
        data, table = pixel_coll.get_numpy([AOI, SWAPPED], "B04", return_table=True)
    assert len(caught) == 1
    assert set(table.column("geometry_index").to_pylist()) == {0} and len(data) == len(table)


def _points(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return LON + rng.uniform(-0.05, 0.05, n), LAT + rng.uniform(-0.05, 0.05, n)


def _rows(table) -> list[tuple]:
    cols = [table.column(k).to_pylist() for k in ("point_id", "id", "value", "row", "col")]
    return sorted(zip(*cols, strict=True))


class _Shape:
    """A foreign geometry type that only speaks `__geo_interface__`."""

    def __init__(self, doc):
        self.__geo_interface__ = doc


@pytest.mark.parametrize("epsg", [4326, 32643, 32644, 3857])
def test_geopandas_points_are_sampled_in_their_own_crs(pixel_coll, epsg):
    gpd = pytest.importorskip("geopandas")
    lon, lat = _points()
    want = _rows(pixel_coll.sample_points((lon, lat), "B04"))
    frame = gpd.GeoDataFrame(
        {"name": [f"p{i}" for i in range(len(lon))]},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    ).to_crs(epsg)
    assert _rows(pixel_coll.sample_points(frame, "B04")) == want
    assert _rows(pixel_coll.sample_points(frame.geometry, "B04")) == want
    assert _rows(pixel_coll.sample_points(frame, "B04", geometry_crs=epsg)) == want
    named = pixel_coll.sample_points(frame, "B04", id_column="name")
    assert set(named.column("point_id").to_pylist()) <= set(frame["name"])
    plain = frame.geometry.set_crs(None, allow_override=True)  # no CRS: geometry_crs says
    assert _rows(pixel_coll.sample_points(plain, "B04", geometry_crs=epsg)) == want
    if epsg != 4326:
        with pytest.raises(GeometryError, match=r"own CRS \(EPSG:\d+\) but geometry_crs=4326"):
            pixel_coll.sample_points(frame, "B04", geometry_crs=4326)


def test_geojson_points_are_lon_lat(pixel_coll):
    lon, lat = _points()
    want = _rows(pixel_coll.sample_points((lon, lat), "B04"))
    features = [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": p}}
        for p in zip(lon.tolist(), lat.tolist(), strict=True)
    ]
    collection = {"type": "FeatureCollection", "features": features}
    assert _rows(pixel_coll.sample_points(collection, "B04")) == want
    assert _rows(pixel_coll.sample_points(features, "B04")) == want
    assert _rows(pixel_coll.sample_points(_Shape(collection), "B04")) == want
    one = pixel_coll.sample_points(features[0]["geometry"], "B04")
    assert _rows(one) == [r for r in want if r[0] == 0]
    with pytest.raises(GeometryError, match="geometry_crs=32644"):
        pixel_coll.sample_points(collection, "B04", geometry_crs=32644)


@pytest.mark.parametrize("epsg", [32644, 32744, 3857])
def test_geopandas_areas_are_read_in_their_own_crs(pixel_coll, epsg):
    gpd = pytest.importorskip("geopandas")
    import shapely

    area = gpd.GeoSeries([shapely.box(*AOI)], crs=4326).to_crs(epsg)
    box = area.iloc[0]
    want, want_table = pixel_coll.get_numpy(box, "B04", geometry_crs=epsg, crs=epsg,
                                            resolution=10.0, return_table=True)  # fmt: skip
    for given in (area, gpd.GeoDataFrame({"k": [1]}, geometry=area)):
        got, table = pixel_coll.get_numpy(given, "B04", crs=epsg, resolution=10.0,
                                          return_table=True)  # fmt: skip
        np.testing.assert_array_equal(got, want)
        assert table.column("transform").to_pylist() == want_table.column("transform").to_pylist()
    series, _ = pixel_coll.get_time_series(area, "B04", crs=epsg, resolution=10.0)
    assert series.shape[1:] == want.shape[1:]
    ds = pixel_coll.get_xarray(area, "B04", crs=epsg, resolution=10.0)
    assert ds["B04"].shape[1:] == want.shape[1:]
    assert len(pixel_coll.subset(geometries=area)) == len(pixel_coll.subset(geometries=AOI))
    with pytest.raises(GeometryError, match="geometry_crs"):
        pixel_coll.get_numpy(area, "B04", geometry_crs=4326)


def test_geojson_areas_equal_the_shapely_box(pixel_coll):
    import shapely

    want = pixel_coll.get_numpy(AOI, "B04")
    geometry = shapely.geometry.mapping(shapely.box(*AOI))
    feature = {"type": "Feature", "properties": {"name": "aoi"}, "geometry": geometry}
    for given in (geometry, feature, {"type": "FeatureCollection", "features": [feature]},
                  [feature], _Shape(feature)):  # fmt: skip
        np.testing.assert_array_equal(pixel_coll.get_numpy(given, "B04"), want)
    assert len(pixel_coll.subset(geometries=feature)) == len(pixel_coll.subset(geometries=AOI))
    with pytest.raises(GeometryError, match="geometry_crs"):
        pixel_coll.get_xarray(feature, "B04", geometry_crs=32644)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"x": [LON], "y": [LAT]}, "not a GeoJSON geometry"),
        ({"type": "Polygon"}, "malformed GeoJSON Polygon"),
        ({"type": "Feature", "properties": {}, "geometry": None}, "without a geometry"),
    ],
)
def test_dicts_that_are_not_geojson_raise_a_geometry_error(pixel_coll, doc, message):
    with pytest.raises(GeometryError, match=message):
        pixel_coll.get_numpy(doc, "B04")
    with pytest.raises(GeometryError, match=message):
        pixel_coll.sample_points(doc, "B04")


def test_geojson_with_a_named_crs_as_geopandas_writes_it(pixel_coll):
    gpd = pytest.importorskip("geopandas")
    import json

    lon, lat = _points()
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(32644)
    doc = json.loads(frame.to_json())
    assert "32644" in json.dumps(doc.get("crs"))  # GeoPandas names the CRS
    want = _rows(pixel_coll.sample_points((lon, lat), "B04"))
    assert _rows(pixel_coll.sample_points(doc, "B04")) == want
    assert _rows(pixel_coll.sample_points(doc, "B04", geometry_crs=32644)) == want


def test_unreadable_crs_and_geometry_text_are_cogdex_errors(pixel_coll):
    """A user's typo is a typed error naming the value, never pyproj's or GEOS's own."""
    import cogdex

    box = (77.99, 19.99, 78.01, 20.01)
    with pytest.raises(cogdex.CRSError, match="EPSG:99999"):
        pixel_coll.get_numpy(box, ["B04"], geometry_crs="EPSG:99999")
    with pytest.raises(cogdex.CRSError, match="nonsense"):
        pixel_coll.get_numpy(box, ["B04"], crs="nonsense", resolution=10)
    with pytest.raises(cogdex.CRSError, match="bogus"):
        pixel_coll.sample_points(([78.0], [20.0]), ["B04"], geometry_crs="bogus")
    with pytest.raises(cogdex.CRSError, match="bogus"):
        pixel_coll.subset(geometries=[box], geometry_crs="bogus")
    feature = {
        "type": "Feature",
        "crs": {"type": "name", "properties": {"name": "urn:nope"}},
        "geometry": {"type": "Point", "coordinates": [78.0, 20.0]},
        "properties": {},
    }
    with pytest.raises(cogdex.CRSError, match="urn:nope"):
        pixel_coll.sample_points(feature, ["B04"])
    with pytest.raises(cogdex.GeometryError, match="not WKT"):
        pixel_coll.get_numpy("POLYGON ((78 20, 78.01", ["B04"])


def test_a_crs_is_read_while_another_thread_is_importing_pyproj(monkeypatch):
    """Reads on several threads of a fresh process: while one thread imports pyproj, the
    module is in sys.modules without its CRS class yet, and the others' CRS values must
    still be read (found by the patch benchmark: `AttributeError: partially initialized
    module 'pyproj' has no attribute 'CRS'`)."""
    import sys
    import types

    from cogdex.crs import normalise_crs

    monkeypatch.setitem(sys.modules, "pyproj", types.ModuleType("pyproj"))
    assert normalise_crs(32643) == 32643
    assert normalise_crs("EPSG:4326") == 4326
