"""The generated matrix (tests/tiff/fixtures_tiff.py) read by cogdex and by GDAL (rasterio).

Every GDAL-written file must give the same metadata and identical pixels: the whole image,
a window across tile edges, windows hanging over the image edges (filled), every overview,
and the internal mask of every level. tifffile-written files (codecs GDAL lacks) are
compared with tifffile's decoding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from rasterio.windows import Window

import cogdex
from cogdex.read.mosaic import fill_value
from tests.tiff.fixtures_tiff import CASES, Case

GDAL_CASES = [c for c in CASES if c.writer != "tifffile"]
TIFFFILE_CASES = [c for c in CASES if c.writer == "tifffile"]
WINDOWS = [
    (37, 21, 90, 70),  # crosses tile edges
    (-10, -5, 40, 30),  # over the top-left corner
    (120, 100, 64, 64),  # over the bottom-right corner
    (149, 0, 1, 130),  # last column
]

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _same(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.shape == theirs.shape, what
    assert ours.dtype == theirs.dtype, what
    assert np.array_equal(ours, theirs, equal_nan=ours.dtype.kind in "fc"), what


def _assert_same_crs(tif: cogdex.GeoTIFF, ds: rasterio.DatasetReader) -> None:
    if ds.crs is None:
        assert tif.crs is None
        return
    assert tif.crs is not None
    assert tif.epsg == ds.crs.to_epsg()  # the code GDAL identifies, user-defined CRSs too
    if not isinstance(tif.header.georef.crs, int):
        gdal = pyproj.CRS(ds.crs.to_wkt(version="WKT2_2019"))
        assert tif.crs.equals(gdal), f"{tif.crs.to_wkt()}\n!=\n{gdal.to_wkt()}"


@pytest.mark.parametrize("case", GDAL_CASES, ids=lambda c: c.name)
def test_matrix_file_matches_gdal(case: Case, tiff_matrix: dict[str, Path]) -> None:
    path = tiff_matrix[case.name]
    tif = cogdex.open(path)
    with rasterio.open(path) as ds:
        assert (tif.width, tif.height, tif.count) == (ds.width, ds.height, ds.count)
        full = ds.read()
        assert tif.dtype == full.dtype
        assert tif.transform == tuple(ds.transform)[:6]
        assert (tif.nodata is None) == (ds.nodata is None)
        if ds.nodata is not None:
            assert np.array_equal(tif.nodata, ds.nodata, equal_nan=True)
        assert tif.tile_shape == tuple(ds.block_shapes[0])
        assert tif.compression == ds.tags(ns="IMAGE_STRUCTURE").get("COMPRESSION", "NONE")
        assert tif.band_descriptions == ds.descriptions
        assert tif.scale_offset == tuple(zip(ds.scales, ds.offsets, strict=True))
        _assert_same_crs(tif, ds)
        _same(tif.read(), full, "full")
        fill = fill_value(ds.nodata, full.dtype)
        for window in WINDOWS:
            # Outside the image is fill (rasterio's boundless reads resample rotated files).
            _same(tif.read(window=window), _boxed(full, window, fill), f"window {window}")
        _same(tif.read(window=WINDOWS[0]), ds.read(window=Window(*WINDOWS[0])), "window")
        _same(tif.read(bands=[ds.count - 1, 0]), full[[ds.count - 1, 0]], "band subset")
        internal_mask = all("per_dataset" in [f.name for f in m] for m in ds.mask_flag_enums)
        internal_mask = internal_mask and "alpha" not in [f.name for f in ds.mask_flag_enums[0]]
        assert tif.has_mask == internal_mask
        if internal_mask:
            _same(tif.read_mask(), ds.read_masks(1), "mask")
        levels = len(ds.overviews(1))
    assert len(tif.overviews) == levels
    for level in range(levels):
        with rasterio.open(path, overview_level=level) as ovr:
            assert tif.overviews[level] == (ovr.width, ovr.height)
            _same(tif.read(overview=level), ovr.read(), f"overview {level}")
            if internal_mask:
                _same(tif.read_mask(overview=level), ovr.read_masks(1), f"mask {level}")


@pytest.mark.parametrize("case", TIFFFILE_CASES, ids=lambda c: c.name)
def test_matrix_codecs_gdal_lacks_match_tifffile(case: Case, tiff_matrix: dict[str, Path]) -> None:
    import tifffile

    path = tiff_matrix[case.name]
    expected = tifffile.imread(path)
    expected = np.moveaxis(expected, -1, 0) if expected.ndim == 3 else expected[None]
    tif = cogdex.open(path)
    _same(tif.read(), expected.astype(expected.dtype.newbyteorder("=")), case.name)
    _same(tif.read(window=(60, 60, 100, 100)), _boxed(expected, (60, 60, 100, 100)), "window")


def _boxed(array: np.ndarray, window: tuple[int, int, int, int], fill: float = 0) -> np.ndarray:
    """`window` of `array`, the part outside the array set to `fill`."""
    col, row, width, height = window
    out = np.full((array.shape[0], height, width), fill, array.dtype.newbyteorder("="))
    r0, c0 = max(row, 0), max(col, 0)
    part = array[:, r0 : row + height, c0 : col + width]
    out[:, r0 - row : r0 - row + part.shape[1], c0 - col : c0 - col + part.shape[2]] = part
    return out
