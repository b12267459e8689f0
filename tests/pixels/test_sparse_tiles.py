"""Sparse tiles (no bytes in the file) read as GDAL reads them: the file's nodata, else 0,
whatever `fill_value` a read asks for (that one is for pixels no record covers). Before,
a read with `fill_value=255` of a file without nodata put 255 in its sparse tiles and
called those pixels valid: a value the file never holds, passed off as data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import Affine, from_origin
from rasterio.warp import Resampling, reproject

import cogdex

AOI = (15.0001, 36.1255, 15.0400, 36.1299)  # lon/lat over the sparse tile's edge (UTM 33N)


def _collection(tmp: Path, nodata: int | None) -> tuple[cogdex.Collection, Path]:
    data = np.full((1, 512, 512), 7, np.uint8)
    data[0, :256, :256] = 0 if nodata is None else nodata  # left out of the file: sparse
    path = tmp / "sparse.tif"
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(500_000, 4_000_000, 10, 10),
               "tiled": True, "blockxsize": 256, "blockysize": 256, "sparse_ok": True,
               "nodata": nodata}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    assert (cogdex.open(path).header.base.tile_byte_counts == 0).sum() == 1
    table = pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [str(path)]})
    pq.write_table(table, tmp / "t.parquet")
    coll = cogdex.build_from_table(tmp / "t.parquet", name="sparse", cache_dir=tmp / "cache")
    return coll, path


def _gdal(path: Path, table: pa.Table, shape: tuple[int, int], crs: int | None) -> np.ndarray:
    transform = Affine(*table.column("transform")[0].as_py()[:6])
    with rasterio.open(path) as ds:
        if crs is None:
            window = rasterio.windows.from_bounds(
                transform.c, transform.f + transform.e * shape[0],
                transform.c + transform.a * shape[1], transform.f, ds.transform,
            )  # fmt: skip
            return ds.read(1, window=window.round_offsets().round_lengths())
        out = np.zeros(shape, np.uint8)
        reproject(rasterio.band(ds, 1), out, dst_transform=transform, dst_crs=f"EPSG:{crs}",
                  resampling=Resampling.nearest)  # fmt: skip
        return out


@pytest.mark.parametrize("crs", [None, 3857])
def test_sparse_tiles_without_nodata_are_zero_whatever_the_fill(tmp_path, crs):
    coll, path = _collection(tmp_path, nodata=None)
    data, valid, table = coll.get_numpy(AOI, ["data"], fill_value=255, crs=crs,
                                        return_mask=True, return_table=True)  # fmt: skip
    expected = _gdal(path, table, data.shape[1:], crs)
    assert set(np.unique(expected)) == {0, 7}
    if crs is None:
        assert valid.all()
    np.testing.assert_array_equal(np.where(valid[0], data[0], 0), expected)
    assert not (data[valid] == 255).any()


def test_sparse_tiles_with_nodata_are_not_valid_and_take_the_fill(tmp_path):
    coll, path = _collection(tmp_path, nodata=9)
    data, valid, table = coll.get_numpy(AOI, ["data"], fill_value=255, return_mask=True,
                                        return_table=True)  # fmt: skip
    expected = _gdal(path, table, data.shape[1:], None)
    np.testing.assert_array_equal(valid[0], expected != 9)
    np.testing.assert_array_equal(data[0], np.where(expected == 9, 255, expected))


def test_points_in_a_sparse_tile_get_their_own_records_value(tmp_path):
    """Each record's sparse tiles hold its own nodata (else 0), not the first record's."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    _, dense = _collection(tmp_path / "first", nodata=9)
    _, sparse = _collection(tmp_path / "second", nodata=None)
    table = pa.table({"id": ["with-nodata", "sparse"], "datetime": ["2024-01-01"] * 2,
                      "href": [str(dense), str(sparse)]})  # fmt: skip
    pq.write_table(table, tmp_path / "both.parquet")
    coll = cogdex.build_from_table(tmp_path / "both.parquet", name="both",
                                   cache_dir=tmp_path / "cache")  # fmt: skip
    points = pa.table({"x": [500_005.0, 504_005.0], "y": [3_999_995.0, 3_999_995.0]})
    got = coll.sample_points(points, ["data"], geometry_crs=32633)
    values = {(r["id"], r["point_id"]): r["value"] for r in got.to_pylist()}
    with rasterio.open(dense) as a, rasterio.open(sparse) as b:
        xy = list(zip(points["x"].to_pylist(), points["y"].to_pylist(), strict=True))
        expected = {("with-nodata", n): int(v[0]) for n, v in enumerate(a.sample(xy))}
        expected |= {("sparse", n): int(v[0]) for n, v in enumerate(b.sample(xy))}
    assert expected[("sparse", 0)] == 0 and expected[("with-nodata", 0)] == 9
    assert values == expected
