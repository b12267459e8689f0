"""STAC `raster:bands` nodata/scale/offset (Sentinel-2 L2A: 0.0001, -0.1) kept per record,
and applied on request (`scale=True`): float32 `raw * scale + offset`, NaN for nodata."""

from __future__ import annotations

import copy
import json

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import shapely
from rasterio.shutil import copy as rio_copy

import cogdex
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
AOI = (LON - 0.01, LAT - 0.008, LON + 0.012, LAT + 0.01)
L2A = {"scale": 0.0001, "offset": -0.1, "nodata": 0.0}


def _expected(raw: np.ndarray, scale: float, offset: float, nodata: float) -> np.ndarray:
    out = raw.astype(np.float32) * np.float32(scale) + np.float32(offset)
    return np.where(raw == nodata, np.float32(np.nan), out)


def test_stac_scale_offset_and_nodata_are_kept_per_record(pixel_coll):
    for band in ("B04", "stack:2"):
        source = pixel_coll.band_source(band)
        np.testing.assert_array_equal(source.scale, 0.0001)
        np.testing.assert_array_equal(source.offset, -0.1)
        np.testing.assert_array_equal(source.stac_nodata, 0)
    assert pixel_coll.band_values(pixel_coll.ids[0], "B04") == L2A


def test_get_numpy_scales_on_request_only(pixel_coll):
    disc = shapely.Point(LON, LAT).buffer(0.01)  # masked outside: NaN there
    kwargs = {"mask": True}
    raw, valid = pixel_coll.get_numpy(disc, ["B04", "stack:3"], return_mask=True, **kwargs)
    assert raw.dtype == np.uint16  # native by default
    scaled = pixel_coll.get_numpy(disc, ["B04", "stack:3"], scale=True, **kwargs)
    assert scaled.dtype == np.float32 and scaled.shape == raw.shape
    expected = np.where(valid, _expected(raw, **L2A), np.float32(np.nan))
    np.testing.assert_array_equal(scaled, expected)
    assert np.isnan(scaled).any() and np.isfinite(scaled).any()
    assert np.nanmax(scaled) < 1.0  # reflectances, not digital numbers


def test_time_series_and_points_scale_on_request(pixel_coll):
    raw, dates = pixel_coll.get_time_series(AOI, "B08")
    scaled, same = pixel_coll.get_time_series(AOI, "B08", scale=True)
    np.testing.assert_array_equal(dates, same)
    np.testing.assert_array_equal(scaled, _expected(raw, **L2A))
    points = pa.table({"x": [LON, LON + 0.001], "y": [LAT, LAT - 0.001]})
    native = pixel_coll.sample_points(points, ["B04", "stack:2"])
    physical = pixel_coll.sample_points(points, ["B04", "stack:2"], scale=True)
    assert physical.column("value").type == pa.float32()
    raw_values = native.column("value").to_numpy()
    np.testing.assert_array_equal(physical.column("value").to_numpy(), _expected(raw_values, **L2A))


def _stac_1_1(asset: dict) -> None:
    """`raster:bands` -> STAC 1.1 `bands` with `raster:scale`/`raster:offset`/`nodata`."""
    raster = asset.pop("raster:bands")
    asset["bands"] = [
        {"name": eo["name"], "nodata": r["nodata"], "raster:scale": r["scale"],
         "raster:offset": r["offset"]}
        for eo, r in zip(asset.pop("eo:bands"), raster, strict=True)
    ]  # fmt: skip


def test_stac_1_1_band_fields_on_bands_and_on_the_asset(stac_files, tmp_path):
    items = copy.deepcopy(stac_files.items)[:2]
    _stac_1_1(items[0]["assets"]["red"])
    red = items[1]["assets"]["red"]
    red.pop("raster:bands")
    red.update({"nodata": "nan", "raster:scale": 2.0, "raster:offset": 1})
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    coll = cogdex.build_from_stac(path, name="v11", bands=["B04"], cache_dir=tmp_path)
    assert coll.band_values(items[0]["id"], "B04") == L2A
    values = coll.band_values(items[1]["id"], "B04")
    assert values["scale"] == 2.0 and values["offset"] == 1.0
    assert values["nodata"] == 0.0  # the file's own nodata comes first


def test_gdal_scale_in_the_file_is_used_where_stac_gives_none(stac_files, scenes, tmp_path):
    """The rule: the STAC item's scale/offset where it gives them, else the file's."""
    scaled = tmp_path / "B04.tif"
    rio_copy(scenes.scenes[0].files["B04"], scaled, driver="GTiff", tiled=True)
    with rasterio.open(scaled, "r+") as ds:
        ds.scales, ds.offsets = (0.5,), (3.0,)
    items = copy.deepcopy(stac_files.items)[:1] * 2
    items[1] = copy.deepcopy(items[1])
    items[1]["id"] = "no-stac-scale"
    for item in items:
        item["assets"]["red"]["href"] = scaled.as_uri()
    del items[1]["assets"]["red"]["raster:bands"]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    coll = cogdex.build_from_stac(path, name="gdal", bands=["B04"], cache_dir=tmp_path)
    assert coll.header("no-stac-scale", "B04").scales == (0.5,)
    assert coll.band_values(items[0]["id"], "B04") == L2A  # STAC wins
    assert coll.band_values("no-stac-scale", "B04") == {"scale": 0.5, "offset": 3.0, "nodata": 0}


def test_merged_records_with_other_values_are_refused_before_any_request(stac_files, tmp_path):
    """One day's two scenes with different offsets (a processing-baseline change): scaling
    the merged image with either record's values would be wrong for the other's pixels."""
    from cogdex.io import fetch

    items = copy.deepcopy(stac_files.items)
    day = items[0]["properties"]["datetime"][:10]
    same_day = [i for i in items if i["properties"]["datetime"][:10] == day]
    assert len(same_day) == 2
    for band in same_day[1]["assets"]["red"]["raster:bands"]:
        band["offset"] = 0.0
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": same_day}))
    coll = cogdex.build_from_stac(path, name="baselines", bands=["B04"], cache_dir=tmp_path)
    with fetch.recording() as rec:
        with pytest.raises(ValueError, match="different scale/offset/nodata"):
            coll.get_numpy(AOI, ["B04"], merge="first", scale=True)
        with pytest.raises(ValueError, match="different scale/offset/nodata"):
            coll.get_xarray(AOI, ["B04"], merge="first", scale=True)
    assert rec.requests == 0
    unmerged = coll.get_numpy(AOI, ["B04"], scale=True)  # each record its own values
    assert unmerged.shape[0] == 2


def _one_band_collection(
    stac_files, tmp_path, data: np.ndarray, raster_band: dict, name: str
) -> cogdex.Collection:
    """A collection of one 64 px COG of `data` at 10 m in EPSG:32633, its STAC asset
    declaring `raster_band` (scale, offset, nodata)."""
    from rasterio.transform import from_origin

    path = tmp_path / f"{name}.tif"
    grid = {"crs": "EPSG:32633", "transform": from_origin(500000, 5000000, 10, 10)}
    with rasterio.open(path, "w", driver="COG", width=64, height=64, count=1,
                       dtype=data.dtype.name, blocksize=64, **grid) as ds:  # fmt: skip
        ds.write(data)
    item = copy.deepcopy(stac_files.items[0])
    item["assets"] = {"B1": {"href": str(path), "type": "image/tiff; application=geotiff",
                             "raster:bands": [raster_band]}}  # fmt: skip
    item["properties"].pop("proj:code", None)
    item["properties"].pop("proj:epsg", None)
    item["bbox"] = [14.99, 45.1, 15.01, 45.2]
    item["geometry"] = shapely.geometry.mapping(shapely.box(*item["bbox"]))
    items = tmp_path / f"{name}.json"
    items.write_text(json.dumps({"type": "FeatureCollection", "features": [item]}))
    return cogdex.build_from_stac(items, name=name, cache_dir=tmp_path)


def test_xarray_scale_without_nodata_asks_for_a_fill_value(stac_files, tmp_path):
    """A Dataset has no valid mask: without a nodata, NaN-ing the default fill of 0 would
    erase real zeros, so the read asks for the raw value that marks gaps."""
    data = np.full((1, 64, 64), 7, np.uint8)
    data[0, :, :8] = 0  # real zeros, not gaps
    coll = _one_band_collection(stac_files, tmp_path, data, {"scale": 2.0, "offset": 1.0}, "zeros")
    box = (500000, 4999360, 500640, 5000000)
    numpy = coll.get_numpy(box, "B1", geometry_crs=32633, scale=True)
    np.testing.assert_array_equal(numpy[0, 0, 6:10], [1, 1, 15, 15])  # zeros are real
    with pytest.raises(ValueError, match="pass fill_value="):
        coll.get_xarray(box, "B1", geometry_crs=32633, scale=True)
    ds = coll.get_xarray(box, "B1", geometry_crs=32633, scale=True, fill_value=255)
    np.testing.assert_array_equal(ds["B1"].values[0, 0, 6:10], [1, 1, 15, 15])


def test_float32_stac_nodata_matches_the_pixels_gdal_would(stac_files, tmp_path):
    """STAC gives nodata as a JSON double (-3.4e38); a float32 band stores it rounded
    (-3.3999999521443642e38), and GDAL compares in the band's type. Compared as doubles,
    the nodata pixels were scaled as data instead of becoming NaN."""
    data = np.full((1, 64, 64), 0.25, np.float32)
    data[0, :, :8] = np.float32(-3.4e38)
    coll = _one_band_collection(
        stac_files, tmp_path, data, {"nodata": -3.4e38, "scale": 2.0}, "f32"
    )
    box = (500000, 4999360, 500640, 5000000)
    numpy = coll.get_numpy(box, "B1", geometry_crs=32633, scale=True)
    assert np.isnan(numpy[0, :, :8]).all() and (numpy[0, :, 8:] == 0.5).all()
    points = pa.table({"x": [500005.0, 500105.0], "y": [4999995.0, 4999995.0]})
    sampled = coll.sample_points(points, ["B1"], geometry_crs=32633, scale=True)
    value = sampled.column("value").to_numpy()
    assert np.isnan(value[0]) and value[1] == 0.5
