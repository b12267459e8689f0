"""Conformance gaps found against GDAL: each file is written here with GDAL (rasterio) or
tifffile and read by cogdex and by rasterio, which must agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import cogdex

pytestmark = pytest.mark.filterwarnings(
    "ignore::rasterio.errors.NotGeoreferencedWarning", "ignore::UserWarning"
)

SIZE = 40


def _gdal_file(path: Path, data: np.ndarray, **profile: Any) -> Path:
    """Write (bands, rows, cols) `data` with GDAL; `profile` adds creation options."""
    profile = {"crs": "EPSG:32631", "transform": from_origin(500000, 6000000, 10, 10)} | profile
    dtype = profile.pop("dtype", data.dtype)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=dtype,
        **profile,
    ) as ds:
        ds.write(data)
    return path


def _ramp(dtype: str, bands: int = 1) -> np.ndarray:
    values = np.arange(bands * SIZE * SIZE).reshape(bands, SIZE, SIZE)
    if np.dtype(dtype).kind == "f":
        return (values * 1.5 - 700).astype(dtype)
    info = np.iinfo(dtype)
    return (values * 37 % (int(info.max) - int(info.min)) + int(info.min)).astype(dtype)


def _assert_reads_as_gdal(path: Path) -> None:
    with rasterio.open(path) as ds:
        theirs = ds.read()
    ours = cogdex.open(path).read()
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs, equal_nan=ours.dtype.kind in "fc")


@pytest.mark.parametrize("compress", ["LERC", "LERC_DEFLATE", "LERC_ZSTD"])
@pytest.mark.parametrize("endianness", ["LITTLE", "BIG"])
@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "int16", "uint16", "int32", "float32", "float64"]
)
def test_lerc_of_either_byte_order(
    tmp_path: Path, compress: str, endianness: str, dtype: str
) -> None:
    data = _ramp(dtype, bands=2)
    if dtype.startswith("float"):
        data[:, 3:9, 5:11] = np.nan  # stored as LERC's invalid-pixel mask
    for name, extra in (
        ("strips", {}),
        ("tiles", {"tiled": True, "blockxsize": 16, "blockysize": 16}),
        ("planes", {"interleave": "band"}),
    ):
        path = _gdal_file(
            tmp_path / f"{name}.tif", data, compress=compress, ENDIANNESS=endianness, **extra
        )
        _assert_reads_as_gdal(path)
