"""`dtype=` converts as GDAL does: to a narrower integer type values saturate at the type's
range, and floats round half away from zero (NaN -> 0); numpy's own cast wraps and truncates.
GDAL (rasterio's `out_dtype` and its warper) is the reference on every read path: an aligned
window, a mosaic of two records and a warp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

import cogdex
from cogdex.read.mosaic import convert

ORIGIN = (500_000.0, 4_000_000.0)
RES = 10.0
# lon/lat box inside the scene (UTM 33N), away from its edges
AOI = (15.0001, 36.1255, 15.0040, 36.1299)


def _scene(path: Path, data: np.ndarray) -> Path:
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": 1,
               "dtype": data.dtype.name, "crs": "EPSG:32633",
               "transform": from_origin(*ORIGIN, RES, RES), "tiled": True, "blockxsize": 128,
               "blockysize": 128, "compress": "deflate"}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


@pytest.fixture(scope="module")
def wide_values(tmp_path_factory: pytest.TempPathFactory) -> tuple[cogdex.Collection, Path]:
    """Two identical uint16 scenes whose values overflow uint8 and int16, and a float32
    scene with halves, NaN and values past int16's range."""
    tmp = tmp_path_factory.mktemp("dtype")
    pattern = np.array([0, 5, 255, 256, 300, 32767, 32768, 65535], np.uint16)
    u16 = np.resize(pattern, (1, 512, 512)).astype(np.uint16)
    paths = [_scene(tmp / f"u16-{k}.tif", u16) for k in range(2)]
    table = pa.table({"id": ["a", "b"], "datetime": ["2024-01-01", "2024-01-01"],
                      "href": [str(p) for p in paths]})  # fmt: skip
    pq.write_table(table, tmp / "t.parquet")
    coll = cogdex.build_from_table(tmp / "t.parquet", name="dtype", cache_dir=tmp / "cache")
    return coll, paths[0]


def _gdal_window(path: Path, transform: list[float], shape: tuple[int, int], dtype: str):
    with rasterio.open(path) as ds:
        col = round((transform[2] - ds.transform.c) / RES)
        row = round((transform[5] - ds.transform.f) / -RES)
        window = rasterio.windows.Window(col, row, shape[1], shape[0])
        return ds.read(1, window=window, out_dtype=dtype)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16"])
@pytest.mark.parametrize("records", ["one", "mosaic"])
def test_narrower_dtype_saturates_like_gdal(wide_values, dtype, records):
    coll, path = wide_values
    if records == "one":
        coll = coll.where(pc.field("id") == "a")
    data, table = coll.get_numpy(AOI, ["data"], dtype=dtype, merge="first", return_table=True)
    assert data.dtype == np.dtype(dtype) and len(data) == 1
    transform = table.column("transform")[0].as_py()
    expected = _gdal_window(path, transform, data.shape[1:], dtype)
    np.testing.assert_array_equal(data[0], expected)


@pytest.mark.parametrize("dtype", ["uint8", "int16"])
def test_narrower_dtype_saturates_through_the_warp_like_gdal(wide_values, dtype):
    coll, path = wide_values
    data, table = coll.where(pc.field("id") == "a").get_numpy(
        AOI, ["data"], crs=3857, dtype=dtype, return_table=True
    )
    transform = rasterio.Affine(*table.column("transform")[0].as_py()[:6])
    expected = np.zeros(data.shape[1:], dtype)
    with rasterio.open(path) as ds:
        reproject(rasterio.band(ds, 1), expected, dst_transform=transform, dst_crs="EPSG:3857",
                  resampling=Resampling.nearest)  # fmt: skip
    np.testing.assert_array_equal(data[0], expected)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint16", "int32", "uint32",
                                   "int64", "float32"])  # fmt: skip
def test_float_to_integer_rounds_and_saturates_like_gdal(dtype):
    values = np.array([[[2.5, -2.5, 0.5, -0.5, 1e6, np.nan, 3.49, -1e6, 1e300, -1e300, np.inf,
                         -np.inf, 1.5, -1.5, 255.5, 127.5, 2.0**63, -(2.0**63)]]])  # fmt: skip
    with MemoryFile() as memory:
        profile = {"driver": "GTiff", "width": values.shape[2], "height": 1, "count": 1,
                   "dtype": "float64", "crs": "EPSG:4326",
                   "transform": from_origin(0, 1, 1, 1)}  # fmt: skip
        with memory.open(**profile) as ds:
            ds.write(values)
        with memory.open() as ds:
            expected = ds.read(out_dtype=dtype)
    with np.errstate(over="ignore"):  # float64 past float32's range is inf, as in GDAL
        got = convert(values, np.dtype(dtype))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("merge", ["min", "max"])
@pytest.mark.parametrize("dtype", ["int64", "uint64", "uint8"])
def test_integer_min_and_max_merges_give_a_records_own_value(tmp_path, merge, dtype):
    """float64 holds integers up to 2**53 only: an int64 min of 2**60 + 1 and 2**60 + 3
    came out as 2**60, a value neither record has."""
    base = 2**60 + 1 if dtype.endswith("64") else 7
    values = {"a": base, "b": base + 2}
    paths = [_scene(tmp_path / f"{k}.tif", np.full((1, 256, 256), v, dtype))
             for k, v in values.items()]  # fmt: skip
    table = pa.table({"id": list(values), "datetime": ["2024-01-01"] * 2,
                      "href": [str(p) for p in paths]})  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    coll = cogdex.build_from_table(tmp_path / "t.parquet", name="ints", cache_dir=tmp_path)
    data = coll.get_numpy(AOI, ["data"], merge=merge)
    assert data.dtype == np.dtype(dtype)
    assert (data == (min if merge == "min" else max)(values.values())).all()


@pytest.mark.parametrize("fill", [-1, 70000, 0.5, float("nan")])
def test_a_fill_value_the_output_type_cannot_hold_is_refused_before_any_request(wide_values, fill):
    """Clamped into uint16, a fill of -1 marking gaps became 0, a real value; in an xarray
    Dataset, which has no valid mask, nothing told the gaps from the data."""
    from cogdex.io import fetch

    coll, _ = wide_values
    with fetch.recording() as rec:
        for read in (coll.get_numpy, coll.get_xarray):
            with pytest.raises(ValueError, match="is not a uint16 value"):
                read(AOI, ["data"], fill_value=fill)
    assert rec.requests == 0
    wider = coll.get_numpy(AOI, ["data"], fill_value=fill, dtype="float32")  # a type that holds it
    assert wider.dtype == np.float32
