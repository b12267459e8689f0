"""What goes into an index, checked against an independent reading of the same inputs
(rasterio on the same files): a build must never name less than a file holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import rasterio.warp
import shapely
import shapely.geometry
from rasterio.transform import from_origin

import cogdex
from cogdex.errors import BuildError


def _rgb(path: Path, tiled: bool) -> Path:
    """A 3-band file with no band metadata anywhere: a plain RGB orthophoto, stripped or
    tiled, as users have them."""
    data = np.random.default_rng(len(path.name)).integers(1, 5000, (3, 128, 128), np.uint16)
    blocks = {"blockxsize": 64, "blockysize": 64} if tiled else {}
    profile = {"driver": "GTiff", "width": 128, "height": 128, "count": 3, "dtype": "uint16",
               "crs": "EPSG:32643", "transform": from_origin(500_000.0, 2_200_000.0, 10.0, 10.0),
               "tiled": tiled, **blocks}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def test_an_undeclared_multi_band_file_is_indexed_as_all_its_bands(tmp_path):
    """With `bands=None` ("index every band"), an asset whose item declares no bands was
    indexed as one band, its first sample: reading it gave red alone for an RGB file, and
    the other samples had no name, without a word."""
    paths = [_rgb(tmp_path / "strips.tif", False), _rgb(tmp_path / "tiles.tif", True)]
    table = pa.table({"id": ["a", "b"], "datetime": ["2024-01-01", "2024-01-02"],
                      "href": [str(p) for p in paths]})  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    coll = cogdex.build_from_table(tmp_path / "t.parquet", name="rgb", cache_dir=tmp_path / "c")
    assert coll.skipped == []
    assert coll.bands == ["data:0", "data:1", "data:2"]
    want = []
    for path in paths:  # one date each, in date order
        with rasterio.open(path) as ds:
            want.append(ds.read(window=((0, 64), (0, 64))))
    box = (500_000.0, 2_200_000.0 - 640.0, 500_640.0, 2_200_000.0)
    got = coll.get_numpy(box, coll.bands, geometry_crs="EPSG:32643")
    np.testing.assert_array_equal(got, np.stack(want))


def test_an_assets_own_nodata_holds_for_every_sample_of_its_file(tmp_path):
    """STAC 1.1 puts `nodata` on an asset for all its bands; with no band list, the index
    kept it for the first sample only, and the others read their nodata pixels as data."""
    path = _rgb(tmp_path / "rgb.tif", True)
    with rasterio.open(path) as ds:
        bounds = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": "rgb", "bbox": list(bounds),
        "geometry": shapely.geometry.mapping(shapely.box(*bounds)),
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {"visual": {"href": str(path), "type": "image/tiff; application=geotiff",
                              "nodata": 7}},
    }  # fmt: skip
    coll = cogdex.build_from_items([item], name="nodata", cache_dir=tmp_path / "c")
    assert coll.bands == ["visual:0", "visual:1", "visual:2"]
    raster = coll.to_arrow()["assets"].to_pylist()[0]["visual"]["raster"]
    assert [band["nodata"] for band in raster] == [7.0, 7.0, 7.0]


def test_an_rfc3339_datetime_in_lower_case_is_read(tmp_path):
    """RFC 3339 allows `t` and `z` in lower case; Python's `fromisoformat` refuses them, so
    such an item was dropped ("no datetime") and its `start_datetime` stored as text."""
    from pystac.utils import str_to_datetime

    path = _rgb(tmp_path / "rgb.tif", True)
    with rasterio.open(path) as ds:
        bounds = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    moment = "2024-01-01t05:30:00.25+05:30"
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "lower", "bbox": list(bounds),
        "geometry": shapely.geometry.mapping(shapely.box(*bounds)),
        "properties": {"datetime": "2024-01-01t05:30:00z", "start_datetime": moment},
        "assets": {"data": {"href": str(path), "type": "image/tiff; application=geotiff"}},
    }  # fmt: skip
    coll = cogdex.build_from_items([item], name="lower", cache_dir=tmp_path / "c")
    assert coll.ids == ["lower"] and coll.skipped == []
    row = coll.to_arrow().select(["datetime", "start_datetime"]).to_pylist()[0]
    assert row["datetime"] == str_to_datetime("2024-01-01T05:30:00Z")
    assert row["start_datetime"] == str_to_datetime(moment.upper())


def test_a_list_column_of_hrefs_is_refused_by_its_name(tmp_path):
    """Each row's list of hrefs went in as its text, refused as a "relative path"."""
    paths = [str(_rgb(tmp_path / f"{k}.tif", True)) for k in "ab"]
    table = pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [paths]})
    with pytest.raises(BuildError, match=r"href column 'href' holds list<item: string> values"):
        cogdex.build_from_table(table, name="lists", cache=False)


def test_an_asset_in_another_crs_than_its_item_is_not_placed_by_the_items(tmp_path):
    """A record has one CRS (its first file's, where STAC names none); an asset whose file
    is in another CRS was indexed under it, so reads placed its pixels by the wrong CRS
    and found nothing where the file has data, without a word."""
    from rasterio.transform import from_origin as origin

    x, y = rasterio.warp.transform("EPSG:32643", "EPSG:32644", [500_000.0], [2_200_000.0])
    files = {"a": ("EPSG:32643", 500_000.0, 2_200_000.0), "b": ("EPSG:32644", x[0], y[0])}
    for key, (crs, left, top) in files.items():
        profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint16",
                   "crs": crs, "transform": origin(left, top, 10.0, 10.0)}  # fmt: skip
        with rasterio.open(tmp_path / f"{key}.tif", "w", **profile) as ds:
            ds.write(np.full((1, 64, 64), 5, np.uint16))
    with rasterio.open(tmp_path / "a.tif") as ds:
        bounds = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "two-crs", "bbox": list(bounds),
        "geometry": shapely.geometry.mapping(shapely.box(*bounds)),
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {k: {"href": str(tmp_path / f"{k}.tif"),
                       "type": "image/tiff; application=geotiff"} for k in files},
    }  # fmt: skip
    with pytest.warns(UserWarning, match=r"1 asset\(s\) are in another CRS"):
        coll = cogdex.build_from_items([item], name="crs", cache_dir=tmp_path / "c")
    assert [(s["asset"], s["reason"]) for s in coll.skipped] == [
        ("b", "file in another CRS than its record's: dropped (EPSG:32644, not EPSG:32643)")
    ]
    assert coll.to_arrow()["assets"].to_pylist()[0]["b"] is None
    box = (500_000.0, 2_200_000.0 - 320.0, 500_320.0, 2_200_000.0)
    assert (coll.get_numpy(box, ["a"], geometry_crs="EPSG:32643") == 5).all()


def test_a_band_past_a_files_samples_reads_as_missing_there(tmp_path):
    """A table of 3-band and 1-band files under one asset names `data:0..2`; a read of
    `data:1` raised an IndexError from the decoder on the 1-band file's record. That file
    has no such band: its record reads as one without the asset (the fill value)."""
    rgb = _rgb(tmp_path / "rgb.tif", True)
    one = tmp_path / "one.tif"
    with rasterio.open(rgb) as ds:
        profile = {**ds.profile, "count": 1}
        first = ds.read(1)
        want = ds.read(window=((0, 64), (0, 64)))
    with rasterio.open(one, "w", **profile) as ds:
        ds.write(first + 1, 1)
    table = pa.table({"id": ["a", "b"], "datetime": ["2024-01-01", "2024-01-02"],
                      "href": [str(rgb), str(one)]})  # fmt: skip
    coll = cogdex.build_from_table(table, name="mixed", cache=False)
    assert coll.bands == ["data:0", "data:1", "data:2"]
    box = (500_000.0, 2_200_000.0 - 640.0, 500_640.0, 2_200_000.0)
    got = coll.get_numpy(box, coll.bands, geometry_crs="EPSG:32643", fill_value=9)
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1, 0], want[0] + 1)
    assert (got[1, 1:] == 9).all()
