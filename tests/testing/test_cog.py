"""`cogdex.testing.write_cog` and the demo's scenes (`cogdex.testing.scenes`), checked
against GDAL (rasterio), rio-cogeo's COG validator, and cogdex's own header reader over
HTTP."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from cogdex.io import fetch, runtime
from cogdex.testing import RangeServer, write_cog, write_scenes
from cogdex.tiff.header import parse_header, read_header

UTM = (10.0, 0.0, 600000.0, 0.0, -10.0, 2300000.0)


def _block_mean(level: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """2x2 means of a (bands, rows, cols) level ignoring nodata/NaN, and where any was valid."""
    b, h, w = level.shape
    values = np.full((b, h + h % 2, w + w % 2), np.nan)
    values[:, :h, :w] = level
    if nodata is not None and not np.isnan(nodata):
        values[values == nodata] = np.nan
    blocks = values.reshape(b, values.shape[1] // 2, 2, values.shape[2] // 2, 2)
    valid = ~np.isnan(blocks)
    total = np.where(valid, blocks, 0).sum(axis=(2, 4))
    count = valid.sum(axis=(2, 4))
    return total / np.maximum(count, 1), count > 0


def _levels(path: Path) -> list[np.ndarray]:
    """Full resolution and every overview, as GDAL reads them."""
    with rasterio.open(path) as ds:
        out = [ds.read()]
        n = len(ds.overviews(1))
    for i in range(n):
        with rasterio.open(path, overview_level=i) as ds:
            out.append(ds.read())
    return out


CASES = [
    # dtype, bands, shape, nodata, compression, resampling, tile
    ("uint16", 1, (1100, 1000), 0, "deflate", "average", 512),
    ("uint8", 3, (300, 700), None, "zstd", "nearest", 256),
    ("int16", 2, (513, 257), -32768, "none", "average", 128),
    ("float32", 1, (600, 600), float("nan"), "deflate", "average", 256),
    ("float64", 1, (200, 333), -9999.0, "zstd", "nearest", 64),
    ("int32", 1, (64, 64), 7, "deflate", "average", 256),
]


@pytest.mark.parametrize(("dtype", "bands", "shape", "nodata", "compression", "resampling",
                          "tile"), CASES)  # fmt: skip
def test_gdal_reads_what_write_cog_wrote(
    tmp_path, dtype, bands, shape, nodata, compression, resampling, tile
):
    rng = np.random.default_rng(len(shape) + bands)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        data = rng.normal(100, 30, (bands, *shape)).astype(dtype)
    else:
        info = np.iinfo(kind)
        data = rng.integers(max(info.min, -5000), min(info.max, 5000), (bands, *shape), kind)
    if nodata is not None:
        data[:, : shape[0] // 3, : shape[1] // 4] = nodata  # a nodata block
    path = write_cog(tmp_path / "x.tif", data if bands > 1 else data[0], 32643, UTM, nodata,
                     tile_size=tile, compression=compression,
                     overview_resampling=resampling)  # fmt: skip

    valid, errors, warnings = cog_validate(str(path))
    assert (valid, errors, warnings) == (True, [], [])
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32643
        assert tuple(ds.transform)[:6] == UTM
        assert ds.count == bands and ds.dtypes[0] == dtype
        assert ds.block_shapes[0] == (tile, tile)
        assert ds.compression is None if compression == "none" else (
            ds.compression.name.lower() == compression
        )  # fmt: skip
        predictor = ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR")
        assert predictor == ("2" if kind.kind in "ui" and compression != "none" else None)
        if nodata is None:
            assert ds.nodata is None
        else:
            assert ds.nodata == nodata or (np.isnan(nodata) and np.isnan(ds.nodata))
        expect_factors = []
        size = max(shape)
        while size > tile:
            size = -(-size // 2)
            expect_factors.append(2 ** len(expect_factors) * 2)
        assert ds.overviews(1) == expect_factors

    levels = _levels(path)
    np.testing.assert_array_equal(levels[0], data)
    for finer, coarser in itertools.pairwise(levels):
        assert coarser.shape[1:] == tuple(-(-s // 2) for s in finer.shape[1:])
        if resampling == "nearest":
            np.testing.assert_array_equal(coarser, finer[:, ::2, ::2])
            continue
        mean, any_valid = _block_mean(finer, nodata)
        got = coarser.astype(np.float64)
        tolerance = 0.5 if kind.kind in "ui" else 1e-4 * np.abs(mean).max()
        assert np.all(np.abs(got[any_valid] - mean[any_valid]) <= tolerance)
        if nodata is not None:  # all-nodata blocks stay nodata
            empty = got[~any_valid]
            assert np.all(np.isnan(empty)) if np.isnan(nodata) else np.all(empty == nodata)


def test_geographic_crs_and_tiff_layout(tmp_path):
    transform = (0.001, 0.0, 77.5, 0.0, -0.001, 20.5)
    data = np.arange(700 * 900, dtype=np.uint16).reshape(700, 900)
    path = write_cog(tmp_path / "geo.tif", data, "EPSG:4326", transform, tile_size=256)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326
        assert tuple(ds.transform)[:6] == pytest.approx(transform)
        np.testing.assert_array_equal(ds.read(1), data)
    header = parse_header(path.read_bytes())
    assert header.georef.crs == 4326
    # The COG layout: IFDs first (the first at byte 8), tile data behind them, from the
    # smallest overview to full resolution.
    ifds = [lv.ifd_offset for lv in header.levels]
    assert ifds[0] == 8 and ifds == sorted(ifds)
    firsts = [int(lv.tile_offsets.min()) for lv in header.levels]
    assert max(ifds) < min(firsts)
    assert firsts == sorted(firsts, reverse=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transform": (10.0, 0.5, 0.0, 0.0, -10.0, 0.0)}, "north-up"),
        ({"transform": (10.0, 0.0, 0.0, 0.0, 10.0, 0.0)}, "north-up"),
        ({"crs": "+proj=utm +zone=43 +ellps=intl"}, "EPSG code"),
        ({"tile_size": 100}, "multiple of 16"),
        ({"nodata": 70000}, "not a uint16 value"),
        ({"nodata": 1.5}, "not a uint16 value"),
        ({"compression": "jpeg"}, "compression"),
        ({"array": np.zeros((2, 3, 4, 5), np.uint16)}, "bands, rows, cols"),
        ({"array": np.zeros((8, 8), np.complex64)}, "integer and float"),
    ],
)
def test_write_cog_refuses_what_it_cannot_write(tmp_path, kwargs, message):
    args = {"array": np.zeros((32, 32), np.uint16), "crs": 32643, "transform": UTM}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        write_cog(tmp_path / "bad.tif", **args)


@pytest.fixture(scope="module")
def demo_scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-scenes")
    return root, write_scenes(root, n=3, size=1024)


def test_demo_scenes_are_valid_cogs_in_two_zones(demo_scenes):
    _, scenes = demo_scenes
    assert {s.epsg for s in scenes} == {32643, 32644}
    for scene in scenes:
        for band, path in scene.files.items():
            assert cog_validate(str(path)) == (True, [], [])
            with rasterio.open(path) as ds:
                assert ds.crs.to_epsg() == scene.epsg
                assert tuple(ds.transform)[:6] == scene.transform
                assert (ds.width, ds.height, ds.count) == (scene.size, scene.size, 1)
                assert ds.dtypes == ("uint16",) and ds.nodata == 0
                assert ds.overviews(1) == [2, 4] and ds.block_shapes == [(256, 256)]
                assert ds.compression.name == "deflate"
                assert ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
                pixels = ds.read(1)
            assert pixels.min() == 0 if scene.nodata_corner else pixels.min() > 0, band
            assert scene.nodata_corner == (pixels[0, 0] == 0)
            assert 500 < np.median(pixels[pixels > 0]) < 7000


def test_demo_overlap_shows_the_same_ground_in_both_zones(demo_scenes):
    """Scenes 0 and 1 (one date, two zones) agree where they overlap, up to sensor noise."""
    from rasterio.warp import Resampling, reproject

    _, scenes = demo_scenes
    a, b = scenes[0], scenes[1]
    with rasterio.open(a.files["B08"]) as da, rasterio.open(b.files["B08"]) as db:
        mine = da.read(1).astype(np.float64)
        other = np.zeros_like(mine)
        reproject(db.read(1), other, src_transform=db.transform, src_crs=db.crs, src_nodata=0,
                  dst_transform=da.transform, dst_crs=da.crs, dst_nodata=0,
                  resampling=Resampling.bilinear)  # fmt: skip
    both = (mine > 0) & (other > 0)
    assert both.mean() > 0.3
    difference = np.abs(mine - other)[both]
    assert difference.mean() < 0.1 * mine[both].std()


def test_cogdex_opens_each_demo_cog_with_one_request(demo_scenes):
    root, scenes = demo_scenes
    with RangeServer(root) as server:
        for path in scenes[0].files.values():
            url = f"{server.url}/{path.relative_to(root).as_posix()}"
            with fetch.recording() as counted:
                header = runtime.run(read_header(url))
            assert counted.requests == 1
            assert header.georef.crs == scenes[0].epsg
            assert header.nodata == 0
            assert [(lv.width, lv.height) for lv in header.levels] == [
                (1024, 1024), (512, 512), (256, 256)
            ]  # fmt: skip


def test_scenes_with_a_stack_and_four_bands_agree_band_by_band(tmp_path):
    """`write_scenes(bands=..., stack=True)`: the stack holds each band's pixels in order,
    and a band the scenes do not render is refused before anything is written."""
    scene = write_scenes(tmp_path, n=1, size=64, bands=["B02", "B03", "B04", "B08"], stack=True)[0]
    assert list(scene.files) == ["B02", "B03", "B04", "B08", "stack"]
    assert scene.platform == "sentinel-2a" and scene.nodata_pct == 0
    with rasterio.open(scene.files["stack"]) as stack:
        assert stack.count == 4
        for band, name in enumerate(("B02", "B03", "B04", "B08"), start=1):
            with rasterio.open(scene.files[name]) as single:
                assert np.array_equal(stack.read(band), single.read(1))
    with pytest.raises(ValueError, match="bands must be some of B02, B03, B04, B08"):
        write_scenes(tmp_path / "none", n=1, size=64, bands=["B05"])
    assert not (tmp_path / "none").exists()
