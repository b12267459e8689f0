"""A matrix of small GeoTIFFs written by GDAL (rasterio) and tifffile, made once per session.

Each `Case` is one file: the creation options of one point of the matrix (compression x
predictor x dtype x planar x endianness x BigTIFF x tiled/stripped x overviews x mask, plus
georeferencing and metadata variants). Images are 150 x 130 pixels with 64-pixel tiles, so
every file has partial edge tiles; pixel values are a seeded mix of gradients and noise.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT = 150, 130


@dataclass(frozen=True)
class Case:
    name: str
    dtype: str = "uint8"
    count: int = 3
    options: dict[str, Any] = field(default_factory=dict)
    writer: str = "gdal"  # "gdal", "cog" (GDAL's COG driver) or "tifffile"
    overviews: tuple[int, ...] = ()
    mask: bool = False
    crs: str | None = "EPSG:32633"
    point: bool = False
    rotated: bool = False
    sparse: bool = False
    tags: bool = False
    nbits: int | None = None
    nan_block: bool = False
    """Float cases: a NaN block in the first band (LERC stores it as a validity mask)."""


def _cases() -> list[Case]:
    cases: list[Case] = []
    tiled = {"tiled": True, "blockxsize": 64, "blockysize": 64}
    for dtype in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"):
        cases.append(
            Case(
                f"deflate-pred2-{dtype}", dtype, 2, {**tiled, "compress": "deflate", "predictor": 2}
            )
        )
    cases.append(Case("deflate-float16", "float16", 2, {**tiled, "compress": "deflate"}))
    for dtype in ("float32", "float64"):
        cases.append(
            Case(
                f"deflate-pred3-{dtype}", dtype, 2, {**tiled, "compress": "deflate", "predictor": 3}
            )
        )
    for dtype in ("uint16", "int32", "int64", "float32", "float64"):
        pred = 3 if dtype.startswith("float") else 2
        opts = {**tiled, "compress": "lzw", "predictor": pred, "endianness": "big"}
        cases.append(Case(f"bigendian-lzw-pred{pred}-{dtype}", dtype, 2, opts))
    cases.append(
        Case(
            "bigtiff-bigendian-zstd-int16",
            "int16",
            2,
            {**tiled, "compress": "zstd", "bigtiff": "yes", "endianness": "big"},
        )
    )
    cases.append(
        Case(
            "bigtiff-stripped-uint16",
            "uint16",
            3,
            {"compress": "lzw", "blockysize": 9, "bigtiff": "yes"},
        )
    )
    for comp in ("none", "lzw", "packbits", "zstd", "lzma", "deflate"):
        cases.append(Case(f"rgb-{comp}", "uint8", 3, {**tiled, "compress": comp}))
    cases.append(
        Case("rgb-webp-lossless", "uint8", 3, {**tiled, "compress": "webp", "webp_lossless": True})
    )
    cases.append(Case("rgba-webp", "uint8", 4, {**tiled, "compress": "webp", "webp_level": 80}))
    cases.append(
        Case("rgb-jpeg-ycbcr", "uint8", 3, {**tiled, "compress": "jpeg", "photometric": "ycbcr"})
    )
    cases.append(Case("rgb-jpeg", "uint8", 3, {**tiled, "compress": "jpeg"}))
    cases.append(
        Case("gray-jpeg-separate", "uint8", 2, {**tiled, "compress": "jpeg", "interleave": "band"})
    )
    for comp in ("lerc", "lerc_deflate", "lerc_zstd"):
        opts = {**tiled, "compress": comp, "max_z_error": 0}
        cases.append(Case(f"float32-{comp}", "float32", 2, opts, nan_block=True))
    cases.append(
        Case("uint16-lerc-lossy", "uint16", 1, {**tiled, "compress": "lerc", "max_z_error": 2})
    )
    cases.append(
        Case(
            "stripped-lzw-pred2", "uint16", 3, {"compress": "lzw", "predictor": 2, "blockysize": 7}
        )
    )
    cases.append(
        Case(
            "stripped-separate",
            "int16",
            3,
            {"compress": "deflate", "interleave": "band", "blockysize": 16},
        )
    )
    cases.append(
        Case(
            "tiled-separate-12band",
            "int16",
            12,
            {**tiled, "compress": "deflate", "interleave": "band"},
        )
    )
    cases.append(Case("single-strip-uncompressed", "uint8", 3, {"blockysize": HEIGHT}))
    cases.append(Case("nbits1", "uint8", 1, {**tiled, "compress": "deflate"}, nbits=1))
    cases.append(Case("nbits4-stripped", "uint8", 1, {"blockysize": 10}, nbits=4))
    cases.append(Case("nbits12", "uint16", 1, {**tiled, "compress": "lzw"}, nbits=12))
    cases.append(
        Case("ccitt-fax4", "uint8", 1, {"compress": "ccittfax4", "blockysize": 32}, nbits=1)
    )
    for dtype in ("complex64", "complex128", "complex_int16"):
        cases.append(Case(f"complex-{dtype}", dtype, 1, {**tiled, "compress": "deflate"}))
    cases.append(
        Case(
            "overviews-mask",
            "uint8",
            3,
            {**tiled, "compress": "deflate"},
            overviews=(2, 4),
            mask=True,
        )
    )
    cases.append(
        Case(
            "overviews-stripped",
            "int16",
            1,
            {"compress": "lzw", "blockysize": 11},
            overviews=(2, 4, 8),
        )
    )
    cases.append(
        Case(
            "cog-jpeg-mask",
            "uint8",
            3,
            {"compress": "jpeg", "blocksize": 64, "overview_resampling": "average"},
            writer="cog",
            mask=True,
        )
    )
    cases.append(
        Case(
            "cog-float-pred3",
            "float32",
            1,
            {"compress": "deflate", "predictor": 3, "blocksize": 64, "bigtiff": "yes"},
            writer="cog",
        )
    )
    cases.append(
        Case(
            "sparse-nodata",
            "int16",
            1,
            {**tiled, "compress": "deflate", "sparse_ok": True, "nodata": -999},
            sparse=True,
        )
    )
    cases.append(
        Case(
            "sparse-nan",
            "float32",
            1,
            {**tiled, "sparse_ok": True, "nodata": float("nan")},
            sparse=True,
        )
    )
    cases.append(Case("pixel-is-point", "uint8", 1, {**tiled}, point=True, crs="EPSG:4326"))
    cases.append(
        Case("rotated", "uint8", 1, {"compress": "packbits"}, rotated=True, crs="EPSG:3857")
    )
    cases.append(
        Case(
            "tags-scale-offset",
            "int16",
            2,
            {**tiled, "compress": "deflate", "nodata": 0},
            tags=True,
        )
    )
    crss = {
        "crs-geographic-4269": "EPSG:4269",
        "crs-swiss-2056": "EPSG:2056",
        "crs-us-feet-2263": "EPSG:2263",
        "crs-lcc-custom": "+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +datum=NAD83",
        "crs-aea-custom": "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +ellps=GRS80",
        "crs-tmerc-feet": "+proj=tmerc +lon_0=-99 +k=0.9996 +x_0=500000 +ellps=clrk66 +units=us-ft",
        "crs-laea-sphere": "+proj=laea +lat_0=45 +lon_0=-100 +R=6371228",
        "crs-stere-polar": "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +datum=WGS84",
        "crs-geos": "+proj=geos +lon_0=-75 +h=35786023 +ellps=GRS80 +sweep=x",
        "crs-sinusoidal": "+proj=sinu +lon_0=0 +R=6371007.181",
        "crs-geog-custom-pm": "+proj=longlat +ellps=bessel +pm=ferro +no_defs",
    }
    for name, crs in crss.items():
        cases.append(Case(name, "uint8", 1, {"compress": "deflate", "blockysize": 32}, crs=crs))
    for comp in ("jpegxl", "jpeg2000", "png"):
        cases.append(
            Case(f"tifffile-{comp}", "uint8", 3, {"compression": comp}, writer="tifffile", crs=None)
        )
    cases.append(
        Case(
            "tifffile-pred3-float16",
            "float16",
            1,
            {"compression": "zlib", "predictor": 3},
            writer="tifffile",
            crs=None,
        )
    )
    cases.append(
        Case(
            "tifffile-bigendian-pred2-int32",
            "int32",
            1,
            {"compression": "zlib", "predictor": 2, "byteorder": ">"},
            writer="tifffile",
            crs=None,
        )
    )
    return cases


CASES = _cases()


def pixels(case: Case) -> np.ndarray:
    """(count, HEIGHT, WIDTH) samples of `case.dtype`: gradients plus seeded noise."""
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([(xx * (b + 1) + yy * 2) for b in range(case.count)]).astype(np.float64)
    noise = rng.normal(0, 3, base.shape)
    dtype = case.dtype
    if case.nbits:
        return (rng.integers(0, 2**case.nbits, base.shape)).astype(dtype)
    if dtype.startswith("complex"):
        real = (base + noise).astype(np.float32)
        return (real + 1j * (base[::-1] - noise)).astype(
            np.complex64 if dtype != "complex128" else np.complex128
        )
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = base * 7.3 + noise * 5
    if case.nan_block:
        values[0, 40:75, 30:100] = np.nan
    if info is not None:
        if info.min < 0:
            values = values - values.mean()
        values = np.clip(values, info.min, info.max)
        if np.dtype(dtype).itemsize >= 4:  # exercise the high bits of wide integers
            values = values.astype(np.int64) * 1_000_003
            values = np.clip(values, info.min // 2, info.max // 2)
    return values.astype(dtype)


def write(case: Case, folder: Path) -> Path:
    path = folder / f"{case.name}.tif"
    data = pixels(case)
    if case.writer == "tifffile":
        _write_tifffile(path, data, case)
    else:
        _write_gdal(path, data, case)
    return path


def _write_tifffile(path: Path, data: np.ndarray, case: Case) -> None:
    import tifffile

    opts = dict(case.options)
    byteorder = opts.pop("byteorder", "<")
    photometric = "rgb" if case.count == 3 else "minisblack"
    array = np.moveaxis(data, 0, -1) if case.count > 1 else data[0]
    tifffile.imwrite(
        path, array, tile=(64, 64), photometric=photometric, byteorder=byteorder, **opts
    )


def _write_gdal(path: Path, data: np.ndarray, case: Case) -> None:
    import rasterio
    from rasterio.transform import Affine, from_origin
    from rasterio.windows import Window

    opts = dict(case.options)
    nodata = opts.pop("nodata", None)
    transform = from_origin(500_000.0, 5_200_000.0, 10.0, 10.0)
    if case.crs == "EPSG:4326" or (case.crs and "longlat" in case.crs):
        transform = from_origin(10.0, 50.0, 0.01, 0.01)
    if case.rotated:
        transform = Affine(10.0, 2.5, 1000.0, -1.5, -10.0, 2000.0)
    profile = {
        "driver": "GTiff",
        "width": WIDTH,
        "height": HEIGHT,
        "count": case.count,
        "dtype": case.dtype,
        "crs": case.crs,
        "transform": transform,
        "nodata": nodata,
        **opts,
    }
    if case.nbits:
        profile["nbits"] = case.nbits
    target = path if case.writer == "gdal" else path.with_suffix(".src.tif")
    if case.writer == "cog":
        profile = {
            k: v
            for k, v in profile.items()
            if k not in ("compress", "predictor", "blocksize", "bigtiff", "overview_resampling")
        }
    env = {"GDAL_TIFF_INTERNAL_MASK": True}
    with rasterio.Env(**env), rasterio.open(target, "w", **profile) as ds:
        if case.sparse:
            ds.write(data[:, :64, :64], window=Window(0, 0, 64, 64))
            ds.write(data[:, 64:, 64:128], window=Window(64, 64, 64, HEIGHT - 64))
        else:
            ds.write(data)
        if case.mask:
            mask = np.full((HEIGHT, WIDTH), 255, np.uint8)
            mask[20:70, 30:110] = 0
            mask[100:, :17] = 0
            ds.write_mask(mask)
        if case.overviews:
            from rasterio.enums import Resampling

            ds.build_overviews(list(case.overviews), Resampling.average)
        if case.point:
            ds.update_tags(AREA_OR_POINT="Point")
        if case.tags:
            ds.update_tags(PURPOSE="cogdex test", OTHER="value")
            ds.update_tags(1, BAND_TAG="first")
            ds.set_band_description(1, "red-ish")
            ds.set_band_description(2, "nir")
            ds.scales = (0.5, 2.0)
            ds.offsets = (-10.0, 3.25)
            ds.units = ("m", "K")
    if case.writer == "cog":
        with rasterio.Env(**env), rasterio.open(target) as src:
            opts = {k: v for k, v in case.options.items()}
            rasterio.shutil.copy(src, path, driver="COG", **opts)
        target.unlink()


def generate(folder: Path, selected: Callable[[Case], bool] = lambda c: True) -> dict[str, Path]:
    """Write every case into `folder`; {case name: path}."""
    import rasterio.shutil  # noqa: F401  (registers rasterio.shutil for the COG copy)

    return {case.name: write(case, folder) for case in CASES if selected(case)}
