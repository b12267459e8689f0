"""Scenes whose GeoTIFFs define their CRS with GeoKeys (no EPSG code in the file) share the
EPSG code GDAL identifies in the index, and reads keep the files' own definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

import cogdex

ALBERS = "+proj=aea +lat_0=23 +lon_0=-96 +lat_1=29.5 +lat_2=45.5 +x_0=0 +y_0=0 +datum=NAD83"
TOWGS84 = "+proj=utm +zone=31 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m"


def _write(path: Path, crs: str, origin: tuple[float, float], seed: int) -> Path:
    data = np.random.default_rng(seed).integers(1, 5000, (1, 256, 256), dtype=np.uint16)
    profile = {"driver": "GTiff", "width": 256, "height": 256, "count": 1, "dtype": "uint16",
               "crs": CRS.from_proj4(crs), "transform": from_origin(*origin, 30.0, 30.0),
               "tiled": True, "blockxsize": 128, "blockysize": 128, "nodata": 0}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


@pytest.mark.parametrize(
    ("crs", "code", "origins"),
    [
        (ALBERS, 5070, [(1_000_000.0, 1_500_000.0), (1_003_000.0, 1_497_000.0)]),
        (TOWGS84, 23031, [(500_000.0, 4_500_000.0), (503_000.0, 4_497_000.0)]),
    ],
    ids=["albers-5070", "utm-towgs84-23031"],
)
def test_user_defined_crs_scenes_share_the_identified_code(tmp_path, crs, code, origins):
    paths = [_write(tmp_path / f"s{k}.tif", crs, o, k) for k, o in enumerate(origins)]
    with rasterio.open(paths[0]) as ds:
        assert ds.crs.to_epsg() == code  # GDAL identifies the code...
        assert "EPSG" not in ds.tags(ns="") and ds.crs.to_wkt()  # ...the file names none
    table = pa.table({"id": ["a", "b"], "datetime": ["2024-01-01", "2024-01-02"],
                      "href": [str(p) for p in paths]})  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    coll = cogdex.build_from_table(
        tmp_path / "t.parquet", name="user-crs", bands=["data"], href_columns={"data": "href"},
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert coll.skipped == []
    assert coll.epsg_codes == [code]
    assert len(coll.crs) == 1 and not coll.crs[0].startswith("EPSG:")  # the file's own
    # a read on the first scene's own grid equals rasterio's pixels
    with rasterio.open(paths[0]) as ds:
        want = ds.read(1, window=((10, 110), (20, 120)))
        left, top = ds.xy(10, 20, offset="ul")
    box = (left, top - 100 * 30.0, left + 100 * 30.0, top)
    data = coll.get_numpy(box, ["data"], geometry_crs=coll.crs[0], merge="first")
    np.testing.assert_array_equal(data[0], want)


def test_an_item_naming_the_identified_code_does_not_replace_the_files_datum_shift(tmp_path):
    """STAC says EPSG:23031; the file says ED50 UTM 31N with its own TOWGS84 shift. The
    index keeps the file's definition (reads stay where GDAL puts the pixels) and warns."""
    import json
    import warnings

    import shapely
    from rasterio.warp import transform_bounds

    path = _write(tmp_path / "ed50.tif", TOWGS84, (500_000.0, 4_500_000.0), 0)
    with rasterio.open(path) as ds:
        bounds = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "ed50", "bbox": list(bounds),
        "geometry": shapely.geometry.mapping(shapely.box(*bounds)),
        "properties": {"datetime": "2024-01-01T00:00:00Z", "proj:epsg": 23031},
        "assets": {"data": {"href": str(path), "type": "image/tiff; application=geotiff"}},
    }  # fmt: skip
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"type": "FeatureCollection", "features": [item]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coll = cogdex.build_from_stac(items, name="ed50", cache_dir=tmp_path / "cache")
    assert any("EPSG:23031 (STAC)" in str(w.message) for w in caught)
    assert coll.epsg_codes == [23031]
    assert '"BoundCRS"' in coll.crs[0]  # the file's definition, its datum shift included
