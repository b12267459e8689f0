"""A COG's internal (per-dataset) mask says which pixels hold data, as GDAL reads it: pixels it
hides are not valid, whatever values they store, so a mosaic takes the next record there and
a warp leaves them out. Before, reads took the stored values as data: a `first` merge kept
the masked record's pixels, and the valid mask said True where GDAL says nodata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.merge import merge as gdal_merge
from rasterio.transform import Affine, from_origin
from rasterio.warp import Resampling, reproject

import cogdex

AOI = (15.0001, 36.1255, 15.0200, 36.1299)  # lon/lat, inside both scenes (UTM 33N)


def _scene(path: Path, value: int, mask: np.ndarray | None = None) -> Path:
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(500_000, 4_000_000, 10, 10),
               "tiled": True, "blockxsize": 128, "blockysize": 128,
               "compress": "deflate"}  # fmt: skip
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as ds:
        ds.write(np.full((1, 512, 512), value, np.uint8))
        if mask is not None:
            ds.write_mask(mask)
    return path


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> tuple[cogdex.Collection, list[Path]]:
    """Record `a` (value 100) whose mask hides a diagonal half, over record `b` (value 200)."""
    tmp = tmp_path_factory.mktemp("masks")
    rows, cols = np.mgrid[0:512, 0:512]
    mask = np.where(cols > rows, 255, 0).astype(np.uint8)
    paths = [_scene(tmp / "a.tif", 100, mask), _scene(tmp / "b.tif", 200)]
    table = pa.table({"id": ["a", "b"], "datetime": ["2024-01-01", "2024-01-01"],
                      "href": [str(p) for p in paths]})  # fmt: skip
    pq.write_table(table, tmp / "t.parquet")
    coll = cogdex.build_from_table(tmp / "t.parquet", name="masks", cache_dir=tmp / "cache")
    assert cogdex.open(paths[0]).has_mask
    return coll, paths


def _grid(table: pa.Table, shape: tuple[int, int]) -> tuple[Affine, tuple[float, ...]]:
    transform = Affine(*table.column("transform")[0].as_py()[:6])
    left, top = transform.c, transform.f
    return transform, (left, top + transform.e * shape[0], left + transform.a * shape[1], top)


def test_a_first_merge_takes_the_next_record_where_the_mask_hides_pixels(masked):
    coll, paths = masked
    data, valid, table = coll.get_numpy(AOI, ["data"], merge="first", return_mask=True,
                                        return_table=True)  # fmt: skip
    _, bounds = _grid(table, data.shape[1:])
    expected, _ = gdal_merge([str(p) for p in paths], bounds=bounds, res=10, method="first")
    assert set(np.unique(data)) == {100, 200}
    np.testing.assert_array_equal(data, expected)
    assert valid.all()


def test_the_valid_mask_of_a_record_is_gdals_dataset_mask(masked):
    coll, paths = masked
    data, valid, table = coll.get_numpy(AOI, ["data"], return_mask=True, return_table=True)
    _, bounds = _grid(table, data.shape[1:])
    with rasterio.open(paths[0]) as ds:
        window = rasterio.windows.from_bounds(*bounds, ds.transform)
        gdal_mask = ds.read_masks(1, window=window.round_offsets().round_lengths())
    np.testing.assert_array_equal(valid[0], gdal_mask != 0)
    np.testing.assert_array_equal(data[0], np.where(gdal_mask != 0, 100, 0))


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_a_warp_leaves_out_what_the_mask_hides_as_gdal(masked, resampling):
    coll, paths = masked
    data, valid, table = coll.get_numpy(AOI, ["data"], crs=3857, resampling=resampling,
                                        dtype="uint8", return_mask=True,
                                        return_table=True)  # fmt: skip
    transform, _ = _grid(table, data.shape[1:])
    expected = np.zeros(data.shape[1:], np.uint8)
    with rasterio.open(paths[0]) as ds:
        reproject(rasterio.band(ds, 1), expected, dst_transform=transform, dst_crs="EPSG:3857",
                  resampling=getattr(Resampling, resampling), dst_nodata=0)  # fmt: skip
    np.testing.assert_array_equal(data[0], expected)
    np.testing.assert_array_equal(valid[0], expected != 0)


def test_points_the_mask_hides_hold_the_fill_as_in_get_numpy(masked):
    """sample_points reads the mask as get_numpy does: a point the mask hides holds the
    record's nodata (else 0), the value get_numpy fills its pixel with; rasterio's
    `read_masks` hides the same pixels. Before, the stored value came back as data."""
    coll, paths = masked
    rng = np.random.default_rng(3)
    cols, rows = rng.integers(0, 512, 2000), rng.integers(0, 512, 2000)
    x, y = 500_000 + 10 * (cols + 0.5), 4_000_000 - 10 * (rows + 0.5)
    table = coll.sample_points((x, y), "data", geometry_crs=32633)
    record = np.asarray(table.column("id").combine_chunks().dictionary_decode()) == "a"
    point = np.asarray(table.column("point_id"))[record]
    with rasterio.open(paths[0]) as ds:
        stored, hidden = ds.read(1)[rows, cols], ds.read_masks(1)[rows, cols] == 0
    assert hidden.any() and (~hidden).any()
    np.testing.assert_array_equal(point, np.arange(2000))
    np.testing.assert_array_equal(np.asarray(table.column("value"))[record],
                                  np.where(hidden, 0, stored))  # fmt: skip
    image, valid = coll[[coll.ids.index("a")]].get_numpy(
        (500_000, 4_000_000 - 5120, 505_120, 4_000_000), "data", geometry_crs=32633,
        return_mask=True,
    )  # fmt: skip
    np.testing.assert_array_equal(valid[0][rows, cols], ~hidden)
    np.testing.assert_array_equal(image[0][rows, cols], np.where(hidden, 0, stored))
