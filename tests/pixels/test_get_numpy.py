"""get_numpy against rasterio on the same grids, over the real HTTP server."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.warp import Resampling, reproject

from cogdex.errors import EmptyReadWarning, MemoryLimitError
from cogdex.io import fetch
from cogdex.read.tilecache import tile_cache
from tests.servers.scenes import AOI_LONLAT, SceneSet

LON, LAT = AOI_LONLAT
AOI = (LON - 0.01, LAT - 0.008, LON + 0.012, LAT + 0.01)  # straddles the 43N/44N boundary


def _rasterio_on_grid(path, crs, transform, shape, band=1, resampling=Resampling.nearest):
    """rasterio's answer on one grid: a window cut when the grid is aligned, else reproject."""
    out = np.zeros(shape, np.uint16)
    with rasterio.open(path) as ds:
        reproject(
            rasterio.band(ds, band), out, dst_crs=crs, dst_transform=rasterio.Affine(*transform),
            resampling=resampling, dst_nodata=0,
        )  # fmt: skip
    return out


def test_one_n_per_geometry_and_record_equal_to_rasterio(pixel_coll, scenes: SceneSet):
    data, valid, table = pixel_coll.get_numpy(AOI, ["B04", "B08"], return_mask=True,
                                              return_table=True)  # fmt: skip
    assert data.dtype == np.uint16
    assert data.shape[:2] == (len(scenes.scenes), 2) and valid.shape == data.shape
    by_id = {s.id: s for s in scenes.scenes}
    anchor_epsg = by_id[table.column("id")[0].as_py()].epsg
    crs = {int(c) for c in table.column("crs").to_pylist()}
    assert crs == {anchor_epsg}  # one grid for every N
    differing = 0
    for n, rid in enumerate(table.column("id").to_pylist()):
        scene = by_id[rid]
        transform = table.column("transform")[n].as_py()
        for c, band in enumerate(("B04", "B08")):
            want = _rasterio_on_grid(scene.files[band], f"EPSG:{anchor_epsg}", transform,
                                     data.shape[2:])  # fmt: skip
            if scene.epsg == anchor_epsg:  # aligned: a window cut, identical
                np.testing.assert_array_equal(data[n, c], want)
            else:
                differing += int((data[n, c] != want).sum())
        assert (valid[n] == (data[n] != 0)).all()  # nodata 0: the mask marks real pixels
    cross = sum(1 for s in scenes.scenes if s.epsg != anchor_epsg) * 2 * data[0, 0].size
    assert differing / cross < 0.005  # warped records: only a thin boundary may differ


def test_records_in_other_zone_are_warped_onto_the_same_grid(pixel_coll):
    data = pixel_coll.get_numpy(AOI, "B04")
    assert data.ndim == 3  # one band: [N, H, W]
    assert (data > 0).mean() > 0.5  # both zones deliver data on the common grid


def test_merge_by_date_and_time_series(pixel_coll, scenes: SceneSet):
    per_record = pixel_coll.get_numpy(AOI, "B04", return_table=True)
    merged, table = pixel_coll.get_numpy(AOI, "B04", merge="first", return_table=True)
    days = sorted({s.datetime.date() for s in scenes.scenes})
    assert merged.shape[0] == len(days)
    first = per_record[0]
    ids = per_record[1].column("id").to_pylist()
    dates = [d.date() for d in per_record[1].column("datetime").to_pylist()]
    for n, day in enumerate(sorted(set(dates))):
        members = [i for i, d in enumerate(dates) if d == day]
        expect = np.zeros_like(first[0])
        done = np.zeros(expect.shape, bool)
        for i in members:  # first valid pixel in collection order
            take = (first[i] != 0) & ~done
            expect[take] = first[i][take]
            done |= first[i] != 0
        np.testing.assert_array_equal(merged[n], expect)
        assert set(table.column("ids")[n].as_py()) == {ids[i] for i in members}
    series, when = pixel_coll.get_time_series(AOI, ["B04", "B08"])
    assert series.shape[:2] == (len(days), 2)
    assert list(when.astype(object)) == days
    mean = pixel_coll.get_numpy(AOI, "B04", merge="mean")
    assert mean.dtype == np.uint16 and mean.shape == merged.shape


def test_polygon_mask_and_fill_value(pixel_coll):
    circle = shapely.Point(LON, LAT).buffer(0.008)
    data, valid = pixel_coll.get_numpy(circle, "B04", mask=True, fill_value=7, return_mask=True)
    corner = data[:, :3, :3]
    assert (corner == 7).all() and not valid[:, :3, :3].any()
    centre = data[:, data.shape[1] // 2, data.shape[2] // 2]
    assert (centre != 7).all()


@pytest.mark.parametrize("crs", [32643, 32644])
def test_fill_value_replaces_nodata_in_aligned_and_warped_records(pixel_coll, crs):
    """Records of both zones, each read (or warped) straight into its output block: nodata
    values hold the fill value and are not valid, the other values are unchanged."""
    big = (LON - 0.06, LAT - 0.04, LON + 0.06, LAT + 0.04)
    data, valid = pixel_coll.get_numpy(big, "B04", crs=crs, return_mask=True)
    filled, valid_f = pixel_coll.get_numpy(big, "B04", crs=crs, fill_value=7, return_mask=True)
    assert (~valid).any() and (valid == valid_f).all()
    assert (filled[~valid] == 7).all() and (filled[valid] == data[valid]).all()


def test_multi_band_stack_reads_like_single_files(pixel_coll):
    singles = pixel_coll.get_numpy(AOI, ["B04", "B08"])
    tile_cache().clear()
    with fetch.recording() as rec:
        stacked = pixel_coll.get_numpy(AOI, ["stack:2", "stack:3"])
    np.testing.assert_array_equal(singles, stacked)
    # Both bands come from one window read of each pixel-interleaved stack file.
    assert rec.requests <= 2 * len(pixel_coll)


def test_outside_every_scene_gives_an_empty_stack(pixel_coll):
    with pytest.warns(EmptyReadWarning, match=r"bounds \(10, 10, 10.01, 10.01\)"):
        data = pixel_coll.get_numpy((10.0, 10.0, 10.01, 10.01), ["B04", "B08"])
    assert data.shape == (0, 2, 0, 0)


def test_memory_limit_fails_before_any_request(pixel_coll):
    with fetch.recording() as rec, pytest.raises(MemoryLimitError, match="MiB"):
        pixel_coll.get_numpy((LON - 0.5, LAT - 0.5, LON + 0.5, LAT + 0.5), "B04", max_memory=2**20)
    assert rec.requests == 0


def test_max_memory_none_lifts_the_limit(pixel_coll):
    with pytest.raises(MemoryLimitError, match=r"None: no limit"):
        pixel_coll.get_numpy(AOI, "B04", max_memory=1024)
    unlimited = pixel_coll.get_numpy(AOI, "B04", max_memory=None)
    np.testing.assert_array_equal(unlimited, pixel_coll.get_numpy(AOI, "B04"))
    series, _ = pixel_coll.get_time_series(AOI, "B04", max_memory=None)
    assert series.size > 1024


def test_bilinear_on_integers_says_it_returns_float(pixel_coll):
    with pytest.warns(UserWarning, match="float32"):
        data = pixel_coll.get_numpy(AOI, "B04", resampling="bilinear", crs=4326)
    assert data.dtype == np.float32
    rounded = pixel_coll.get_numpy(AOI, "B04", resampling="bilinear", crs=4326, dtype="uint16")
    assert rounded.dtype == np.uint16


def test_coarse_resolution_reads_overviews(pixel_coll, scenes: SceneSet):
    tile_cache().clear()
    with fetch.recording() as full:
        pixel_coll.get_numpy(AOI, "B04", resolution=10)
    tile_cache().clear()
    with fetch.recording() as coarse:
        data, table = pixel_coll.get_numpy(AOI, "B04", resolution=40, return_table=True)
    assert coarse.bytes < 0.6 * full.bytes  # the 20 m overview, not the 10 m tiles
    by_id = {s.id: s for s in scenes.scenes}
    for n, rid in enumerate(table.column("id").to_pylist()):
        scene = by_id[rid]
        if str(scene.epsg) != table.column("crs")[n].as_py():
            continue
        want = np.zeros(data.shape[1:], np.uint16)
        with rasterio.open(scene.files["B04"], overview_level=0) as ds:  # GDAL, same overview
            reproject(rasterio.band(ds, 1), want, dst_crs=ds.crs, resampling=Resampling.nearest,
                      dst_transform=rasterio.Affine(*table.column("transform")[n].as_py()),
                      dst_nodata=0)  # fmt: skip
        np.testing.assert_array_equal(data[n], want)
