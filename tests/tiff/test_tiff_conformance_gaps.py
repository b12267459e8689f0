"""Conformance gaps found against GDAL: each file is written here with GDAL (rasterio) or
tifffile and read by cogdex and by rasterio, which must agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
import tifffile
from rasterio.transform import from_origin
from rasterio.windows import Window

import cogdex
from cogdex.errors import UnsupportedTIFF
from cogdex.tiff import codecs

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
    low, high = max(int(info.min), -(1 << 20)), min(int(info.max), 1 << 20)
    return (values * 37 % (high - low) + low).astype(dtype)


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


def _complex(dtype: str) -> np.ndarray:
    """CInt16 values as complex64 (numpy has no complex integers), else `dtype`."""
    values = _ramp("int16", bands=2).astype(np.float64) / 3
    data = values + 1j * (values[::-1] - 7)
    return data.astype(np.complex64 if dtype == "complex_int16" else dtype)


@pytest.mark.parametrize("dtype", ["complex_int16", "complex64", "complex128"])
@pytest.mark.parametrize("endianness", ["LITTLE", "BIG"])
@pytest.mark.parametrize(
    "layout",
    [
        {},
        {"compress": "DEFLATE", "predictor": 2},
        {"compress": "LZW", "predictor": 2, "tiled": True, "interleave": "band"},
        {"compress": "ZSTD", "tiled": True, "blockxsize": 16, "blockysize": 16, "nodata": 3},
    ],
)
def test_complex_samples_read_as_gdal(
    tmp_path: Path, dtype: str, endianness: str, layout: dict[str, Any]
) -> None:
    if dtype == "complex128" and "predictor" in layout:
        pytest.skip("GDAL has no horizontal predictor for 128-bit samples")
    path = _gdal_file(
        tmp_path / "complex.tif", _complex(dtype), dtype=dtype, ENDIANNESS=endianness, **layout
    )
    _assert_reads_as_gdal(path)
    with rasterio.open(path) as ds:
        theirs = ds.read(window=Window(30, -4, 20, 12), boundless=True)
    assert np.array_equal(cogdex.open(path).read(window=(30, -4, 20, 12)), theirs)


def _patch_tag(path: Path, name: str, value: int) -> Path:
    """Overwrite every value of a SHORT tag of the first IFD in place (for what GDAL will
    not write: CInt32 or CFloat16 through rasterio, other compressions...)."""
    with tifffile.TiffFile(path) as tf:
        tag = tf.pages[0].tags[name]
        offset, count, order = tag.valueoffset, tag.count, tf.byteorder
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(np.full(count, value, f"{order}u2").tobytes())
    return path


@pytest.mark.parametrize(
    ("written", "sample_format"),
    [
        ("int64", 5),  # CInt32
        ("float32", 6),  # CFloat16
        ("uint8", 5),  # too narrow for a complex pair: read as plain integers
        ("int16", 5),
        ("uint16", 6),
    ],
)
@pytest.mark.parametrize("layout", [{}, {"compress": "DEFLATE", "predictor": 2}])
@pytest.mark.parametrize("endianness", ["LITTLE", "BIG"])
def test_other_complex_formats_read_as_gdal(
    tmp_path: Path, written: str, sample_format: int, layout: dict[str, Any], endianness: str
) -> None:
    data = _ramp(written, bands=2)
    if written == "float32":  # half-float pairs of small values: no NaN bit patterns
        data = (np.arange(2 * SIZE * SIZE).reshape(2, SIZE, SIZE) % 500 + 15360).astype("<u2")
        data = data.view("<u4").view("float32").reshape(2, SIZE, SIZE // 2).repeat(2, axis=2)
    written_path = _gdal_file(tmp_path / "f.tif", data, ENDIANNESS=endianness, **layout)
    path = _patch_tag(written_path, "SampleFormat", sample_format)
    _assert_reads_as_gdal(path)


def test_complex_of_128_bits_with_a_predictor_is_unsupported(tmp_path: Path) -> None:
    data = _ramp("int64", bands=2)
    path = _gdal_file(tmp_path / "f.tif", data, compress="DEFLATE", predictor=2)
    # 128-bit integers do not exist; a 64-bit file patched to complex (6) and 128 bits
    # would need rewriting tile sizes, so check the rule on a level directly.
    level = cogdex.open(path).header.base
    bad = replace(level, sample_format=6, bits_per_sample=128, dtype="complex128")
    with pytest.raises(UnsupportedTIFF, match="predictor"):
        codecs.check(bad, str(path))


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (34676, "SGILog"),
        (34677, "SGILog24"),
        (34661, "JBIG"),
        (32909, "PixarLog"),
        (6, "old-style JPEG"),
    ],
)
def test_unsupported_compression_is_named(tmp_path: Path, code: int, name: str) -> None:
    path = _patch_tag(_gdal_file(tmp_path / "f.tif", _ramp("uint8")), "Compression", code)
    with pytest.raises(UnsupportedTIFF, match=rf"^compression {name} \({code}\) is not supported"):
        cogdex.open(path)


def test_unknown_compression_is_named_by_its_code(tmp_path: Path) -> None:
    path = _patch_tag(_gdal_file(tmp_path / "f.tif", _ramp("uint8")), "Compression", 60123)
    with pytest.raises(UnsupportedTIFF, match=r"^compression 60123 is not supported"):
        cogdex.open(path)


@pytest.mark.parametrize(
    "dtype",
    [
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "int64",
        "uint64",
        "float16",
        "float32",
    ],
)
@pytest.mark.parametrize(
    "text",
    [
        *("9999", "-1", "1.5", "nan", "-inf", "255", "-129", "1e40", "4294967296", "-0", "abc"),
        *("18446744073709551615", "-9223372036854775808"),
        *("\x1c9999", " \t-5", "\x1f7"),  # \x1c-\x1f are not C's whitespace (Python's \\s)
    ],
)
def test_nodata_the_type_cannot_hold_is_none(tmp_path: Path, dtype: str, text: str) -> None:
    path = tmp_path / "nodata.tif"
    tifffile.imwrite(path, np.zeros((8, 8), dtype), extratags=[(42113, "s", 0, text, True)])
    with rasterio.open(path) as ds:
        theirs = ds.nodata
    ours = cogdex.open(path).nodata
    if theirs is None or ours is None:
        assert ours is theirs
    else:
        assert ours == theirs or (np.isnan(ours) and np.isnan(theirs))


@pytest.mark.parametrize(
    ("dtype", "nodata"), [("uint8", "999"), ("int16", "1.5"), ("int16", "-2.5")]
)
def test_windows_beyond_the_image_are_filled_as_gdal(
    tmp_path: Path, dtype: str, nodata: str
) -> None:
    path = tmp_path / "nodata.tif"
    tifffile.imwrite(path, np.full((8, 8), 7, dtype), extratags=[(42113, "s", 0, nodata, True)])
    with rasterio.open(path) as ds:
        theirs = ds.read(window=Window(-3, -3, 8, 8), boundless=True, fill_value=ds.nodata)
    assert np.array_equal(cogdex.open(path).read(window=(-3, -3, 8, 8)), theirs)


@pytest.mark.parametrize("scale", [(1, -1, 0), (-1, -1, 0), (2, -0.5, 0), (-1, 1, 0), (3, 0.25, 0)])
@pytest.mark.parametrize("tiepoint", [(0, 0, 0, 100, 200, 0), (2, 3, 0, 100, 200, 0)])
@pytest.mark.parametrize("raster_type", [1, 2])
def test_pixel_scale_sign_as_gdal(
    tmp_path: Path, scale: tuple[float, ...], tiepoint: tuple[float, ...], raster_type: int
) -> None:
    keys = (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, raster_type, 2048, 0, 1, 4326)
    path = tmp_path / "scale.tif"
    tags = [(33550, 12, 3, scale, True), (33922, 12, 6, tiepoint, True), (34735, 3, 16, keys, True)]
    tifffile.imwrite(path, np.zeros((8, 8), "uint8"), extratags=tags)
    with rasterio.open(path) as ds:
        theirs = tuple(ds.transform)[:6]
    assert cogdex.open(path).transform == pytest.approx(theirs)


TAG_VALUES = {
    "quote": 'say "hi"',
    "amp": "a & b",
    "angle": "<tag>",
    "apostrophe": "it's",
    "escapes": '&quot; literal &amp; <x a="1">',
    "lines": "line1\nline2",
    "unicode": "ünï €",
}


def test_gdal_metadata_values_are_unescaped_as_gdal(tmp_path: Path) -> None:
    path = tmp_path / "tags.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=2, dtype="uint8") as ds:
        ds.write(np.zeros((2, 8, 8), "uint8"))
        ds.update_tags(**TAG_VALUES)
        ds.update_tags(2, **TAG_VALUES)
        ds.set_band_description(1, 'd "q" & <x>')
        ds.set_band_unit(1, 'm & "s"')
    header = cogdex.open(path).header
    with rasterio.open(path) as ds:
        assert header.metadata == ds.tags()
        assert header.band_metadata[1] == ds.tags(2)
        assert header.descriptions == ds.descriptions
        assert header.units == ds.units


@pytest.mark.parametrize(
    "value",
    [
        *("&amp;#x41;&amp;#66;&amp;#X43;", "&amp;LT;&amp;Quot;", "ab&amp;amp;cd&amp;zz;ef"),
        *("&amp;#x20AC;", "x&amp;#0;y", "&amp;#xZZ;", "&amp;#x41", "&amp;#1114112;", "&amp;#x;y"),
    ],
)
@pytest.mark.parametrize("number", ["2&amp;amp;", "abc", " 3.5e1x", "", "-1e-2"])
def test_hand_written_gdal_metadata_reads_as_gdal(tmp_path: Path, value: str, number: str) -> None:
    xml = (
        f'<GDALMetadata><Item name="X">{value}</Item>'
        f'<Item name="S" sample="0" role="scale">{number}</Item>'
        f'<Item name="O" sample="0" role="offset">{number}</Item></GDALMetadata>'
    )
    path = tmp_path / "tags.tif"
    tifffile.imwrite(path, np.zeros((8, 8), "uint8"), extratags=[(42112, "s", 0, xml, True)])
    tif = cogdex.open(path)
    with rasterio.open(path) as ds:
        assert tif.header.metadata.get("X") == ds.tags().get("X")
        assert tif.scale_offset == ((ds.scales[0], ds.offsets[0]),)


def _assert_same_crs(path: Path) -> None:
    """cogdex's CRS is GDAL's: the same EPSG code (identified for user-defined CRSs, as
    rasterio's `to_epsg()` does), and an equal PROJ CRS where the file has no code."""
    tif = cogdex.open(path)
    with rasterio.open(path) as ds:
        gdal = pyproj.CRS(ds.crs.to_wkt(version="WKT2_2019"))
        gdal_epsg = ds.crs.to_epsg()
    assert tif.crs is not None
    assert tif.epsg == gdal_epsg
    if not isinstance(tif.header.georef.crs, int):
        assert tif.crs.equals(gdal), f"{tif.crs.to_wkt()}\n!=\n{gdal.to_wkt()}"


def _crs_file(path: Path, crs: str) -> Path:
    return _gdal_file(path, _ramp("uint8"), crs=crs, transform=from_origin(5, 60, 0.1, 0.1))


@pytest.mark.parametrize(
    "crs",
    [
        "+proj=utm +zone=31 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m +no_defs",
        "+proj=utm +zone=33 +south +ellps=WGS84 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs",
        "+proj=utm +zone=32 +ellps=bessel +towgs84=598.1,73.7,418.2,0.202,0.045,-2.455,6.7",
        "+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9996 +x_0=500000 +y_0=0 +ellps=bessel "
        "+towgs84=598.1,73.7,418.2,0.202,0.045,-2.455,6.7 +units=m",
        "+proj=lcc +lat_1=49 +lat_2=44 +lat_0=46.5 +lon_0=3 +x_0=700000 +y_0=6600000 "
        "+ellps=clrk80ign +towgs84=-168,-60,320,0,0,0,0 +units=m",
        "+proj=longlat +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +no_defs",
        'GEOGCS["foo",DATUM["My Datum (x) y-z",SPHEROID["GRS 1980",6378137,298.257222101],'
        'TOWGS84[1,2,3,0,0,0,0]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]',
    ],
)
def test_datum_shifts_keep_the_crs(tmp_path: Path, crs: str) -> None:
    _assert_same_crs(_crs_file(tmp_path / "crs.tif", crs))


NAD83 = "+datum=NAD83 +units=m +no_defs"


@pytest.mark.parametrize(
    "crs",
    [
        f"+proj=aea +lat_0=23 +lon_0=-96 +lat_1=29.5 +lat_2=45.5 +x_0=0 +y_0=0 {NAD83}",  # 5070
        f"+proj=aea +lat_0=31.1666667 +lon_0=-100 +lat_1=27.5 +lat_2=35 +x_0=1500000 "
        f"+y_0=6000000 {NAD83}",  # 3083
        "+proj=lcc +lat_0=50.797815 +lon_0=4.35921583333333 +lat_1=49.8333333333333 "
        "+lat_2=51.1666666666667 +x_0=649328 +y_0=665262 +ellps=GRS80 +units=m",  # 3812
        f"+proj=lcc +lat_0=23 +lon_0=-96 +lat_1=33 +lat_2=45 +x_0=0 +y_0=0 {NAD83}",
        "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +datum=WGS84",  # 3413
        "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m",
        "+proj=eqc +lat_ts=0 +lat_0=0 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m",  # 4087
        "+proj=merc +lon_0=0 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m",  # 3395
        "+proj=eqdc +lat_0=40 +lon_0=-96 +lat_1=20 +lat_2=60 +x_0=0 +y_0=0 +datum=NAD83",
        "+proj=mill +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84",
        "+proj=utm +zone=31 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m",  # 23031
        "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +ellps=GRS80",  # 70%: 5070
    ],
)
def test_user_defined_crs_gets_the_epsg_code_gdal_identifies(tmp_path: Path, crs: str) -> None:
    _assert_same_crs(_crs_file(tmp_path / "crs.tif", crs))


def test_esri_crs_matched_by_its_esri_code_has_no_epsg(tmp_path: Path) -> None:
    esri = pyproj.CRS("ESRI:102039").to_wkt(version="WKT1_ESRI")
    path = _crs_file(tmp_path / "crs.tif", esri)
    _assert_same_crs(path)
    assert cogdex.open(path).epsg is None


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16"])
@pytest.mark.parametrize(
    "layout",
    [
        {},
        {"compress": "DEFLATE"},
        {"compress": "JPEG"},
        {"compress": "LZW", "predictor": 2, "tiled": True, "blockxsize": 16, "blockysize": 16},
    ],
)
def test_cmyk_reads_as_gdal(tmp_path: Path, dtype: str, layout: dict[str, Any]) -> None:
    if dtype == "uint16" and layout.get("compress") == "JPEG":
        pytest.skip("no 16-bit JPEG")
    data = np.random.default_rng(5).integers(0, 120, (4, SIZE, SIZE)).astype(dtype)
    path = _gdal_file(tmp_path / "cmyk.tif", data, photometric="CMYK", crs=None, **layout)
    _assert_reads_as_gdal(path)
    with rasterio.open(path) as ds:
        theirs = ds.read(window=Window(7, 9, 20, 30))
    assert np.array_equal(cogdex.open(path).read(window=(7, 9, 20, 30)), theirs)


@pytest.mark.parametrize("ink_set", [1, 2])
def test_cmyk_ink_set_as_gdal(tmp_path: Path, ink_set: int) -> None:
    """GDAL converts only InkSet CMYK (the default) to RGBA; other inks are plain bands."""
    data = np.random.default_rng(6).integers(0, 255, (SIZE, SIZE, 4)).astype("uint8")
    path = tmp_path / "inks.tif"
    tifffile.imwrite(path, data, photometric="separated", extratags=[(332, 3, 1, ink_set, True)])
    _assert_reads_as_gdal(path)


@pytest.mark.parametrize(("bands", "interleave"), [(4, "band"), (5, "pixel"), (5, "band")])
def test_cmyk_gdal_reshapes_is_unsupported(tmp_path: Path, bands: int, interleave: str) -> None:
    """Separate CMYK planes, or CMYK with extra samples (GDAL returns 4 RGBA bands)."""
    data = np.zeros((bands, SIZE, SIZE), "uint8")
    path = _gdal_file(
        tmp_path / "cmyk.tif", data, photometric="CMYK", crs=None, interleave=interleave
    )
    with pytest.raises(UnsupportedTIFF, match="CMYK"):
        cogdex.open(path)
