"""Conformance: every file of the shared GeoTIFF corpus read as GDAL reads it.

The corpus (`<repo>/../shared/corpus`, or `COGDEX_CORPUS`) holds real TIFFs from public test
suites with GDAL's metadata and pixels for each (see its README). For every file GDAL opens,
cogdex must report the same size, bands, dtype, CRS, transform, nodata, block shape,
overviews and compression, and return identical pixels for every stored window, mask and
overview; files GDAL cannot open or read must raise a `TIFFError`. Deliberate differences
are listed here with their reason, and in docs/compatibility.md.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest

import cogdex
from cogdex.errors import DecodeError, MalformedTIFF, TIFFError, TruncatedTIFF

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("COGDEX_CORPUS") or ROOT.parent / "shared" / "corpus")
FILES = CORPUS / "files"
EXPECTED = CORPUS / "expected"
NAMES = sorted(p.name for p in FILES.iterdir()) if FILES.is_dir() else []

pytestmark = pytest.mark.skipif(not NAMES, reason=f"no GeoTIFF corpus at {CORPUS}")

# GDAL cannot decode these codecs; cogdex (imagecodecs) can, checked against tifffile below.
READ_WITHOUT_GDAL = {
    "imagecodecs__rgb.tiled.jpeg2000.u1.tif",
    "imagecodecs__rgb.tiled.png.u1.tif",
}


def _expected(name: str) -> dict[str, Any]:
    return json.loads((EXPECTED / f"{name}.json").read_text())


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _assert_same_pixels(ours: np.ndarray, gdal: np.ndarray, what: str) -> None:
    assert ours.shape == gdal.shape, what
    assert ours.dtype == gdal.dtype, what
    if ours.dtype.kind in "fc":
        assert np.array_equal(ours, gdal, equal_nan=True), what
    else:
        assert np.array_equal(ours, gdal), what


def _assert_same_crs(name: str, tif: cogdex.GeoTIFF, exp: dict[str, Any]) -> None:
    gdal = exp["crs"] if isinstance(exp.get("crs"), dict) else None
    if gdal is None:
        assert tif.crs is None
        return
    assert tif.crs is not None
    assert tif.epsg == gdal["epsg"]  # the code GDAL identifies, user-defined CRSs too
    if isinstance(tif.header.georef.crs, int):
        return
    theirs = pyproj.CRS(gdal["wkt2_2019"])
    assert tif.crs.equals(theirs), f"{tif.crs.to_wkt()}\n!=\n{gdal['wkt2_2019']}"


@pytest.mark.parametrize("name", NAMES)
def test_corpus_file_matches_gdal(name: str) -> None:
    exp = _expected(name)
    path = FILES / name
    if "open_error" in exp and name not in READ_WITHOUT_GDAL:
        with pytest.raises(TIFFError):
            cogdex.open(path)
        return
    tif = cogdex.open(path)
    if name in READ_WITHOUT_GDAL:
        return  # see test_corpus_codecs_gdal_lacks
    assert (tif.width, tif.height, tif.count) == (exp["width"], exp["height"], exp["count"])
    assert tif.dtype == np.dtype(exp.get("array_dtype", exp["dtypes"][0]))
    assert list(tif.transform) == exp["transform"]
    assert _same_number(tif.nodata, _float(exp["nodata"]))
    assert [list(tif.tile_shape)] * tif.count == exp["block_shapes"]
    # GDAL lists overviews in IFD order, cogdex from largest to smallest.
    assert tif.overviews == sorted(map(tuple, exp["overview_shapes"]), key=lambda s: -s[0] * s[1])
    assert tif.compression == exp["compression"]
    _assert_same_crs(name, tif, exp)
    if "scales" in exp and isinstance(exp["scales"], list):
        assert [s for s, _ in tif.scale_offset] == exp["scales"]
        assert [o for _, o in tif.scale_offset] == exp["offsets"]
        assert list(tif.band_descriptions) == exp["descriptions"]

    read_errors = exp.get("read_errors", {})
    npz = EXPECTED / f"{name}.npz"
    stored = dict(np.load(npz)) if npz.exists() else {}
    for key, window in exp["windows"].items():
        if key in read_errors:  # bad tile data: a DecodeError, or TruncatedTIFF past EOF
            with pytest.raises((DecodeError, TruncatedTIFF)):
                tif.read(window=tuple(window))
        else:
            _assert_same_pixels(tif.read(window=tuple(window)), stored[key], f"{name} {key}")
        if f"{key}_mask" in stored:
            mask = tif.read_mask(window=tuple(window))
            _assert_same_pixels(mask, stored[f"{key}_mask"], f"{name} {key} mask")
    if "ovr" in stored:
        level = tif.overviews.index(tuple(exp["ovr_stored"]["shape"]))
        _assert_same_pixels(tif.read(overview=level), stored["ovr"], f"{name} overview")


@pytest.mark.parametrize("name", sorted(READ_WITHOUT_GDAL))
def test_corpus_codecs_gdal_lacks(name: str) -> None:
    """JPEG 2000 and PNG tiles (GDAL has no codec for them in TIFF): compare with tifffile."""
    tifffile = pytest.importorskip("tifffile")
    if not (FILES / name).exists():
        pytest.skip(f"{name} not in this corpus")
    with tifffile.TiffFile(FILES / name) as tf:
        expected = np.moveaxis(tf.pages[0].asarray(), -1, 0)
    _assert_same_pixels(cogdex.open(FILES / name).read(), expected, name)


def test_corpus_malformed_files_name_the_problem() -> None:
    """Files GDAL refuses raise a MalformedTIFF subclass that names file and byte offset."""
    refused = [n for n in NAMES if "open_error" in _expected(n) and n not in READ_WITHOUT_GDAL]
    assert refused
    for name in refused:
        with pytest.raises(MalformedTIFF) as info:
            cogdex.open(FILES / name)
        assert info.value.source is not None and name in info.value.source
        assert info.value.offset is not None
