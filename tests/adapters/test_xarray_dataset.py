"""get_xarray: CF-described Datasets whose pixels equal rioxarray's reading of the same
files, eager and Dask-backed, over the real HTTP server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray
import xarray as xr
from rasterio.enums import Resampling

from cogdex.errors import EmptyReadWarning, MemoryLimitError
from cogdex.io import fetch
from cogdex.read.tilecache import tile_cache
from tests.adapters.conftest import BANDS, GEOS
from tests.servers.scenes import AOI_LONLAT, SceneSet

LON, LAT = AOI_LONLAT
AOI = (LON - 0.01, LAT - 0.008, LON + 0.012, LAT + 0.01)  # straddles the 43N/44N boundary
# rioxarray multiplies Affines with `*`, which affine 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

WIDE = (LON - 0.05, LAT - 0.03, LON + 0.05, LAT + 0.03)  # spans several 512-px tiles


def _scene(scenes: SceneSet, record_id: str):
    return next(s for s in scenes.scenes if s.id == record_id)


def test_layout_coordinates_and_cf_metadata(adapter_coll, scenes: SceneSet):
    ds = adapter_coll.get_xarray(AOI, BANDS)
    assert list(ds.data_vars) == BANDS
    assert all(ds[b].dims == ("time", "y", "x") and ds[b].dtype == np.uint16 for b in BANDS)
    assert ds.sizes["time"] == len(scenes.scenes)  # every record covers the AOI
    times = ds["time"].to_numpy()
    assert (np.diff(times) >= np.timedelta64(0, "s")).all()
    for when, rid in zip(times, ds["id"].to_numpy(), strict=True):
        assert pd.Timestamp(when) == pd.Timestamp(_scene(scenes, rid).datetime).tz_convert(None)
    transform = ds.rio.transform()
    assert ds.x[0] == transform.c + transform.a / 2 and ds.y[0] == transform.f + transform.e / 2
    assert np.allclose(np.diff(ds.x), transform.a) and np.allclose(np.diff(ds.y), transform.e)
    anchor = _scene(scenes, str(ds["id"][0].item()))
    assert ds.rio.crs.to_epsg() == anchor.epsg
    assert ((transform.c - anchor.transform.c) / 10) % 1 == 0  # on the first record's lattice
    ref = ds["spatial_ref"].attrs
    assert {"crs_wkt", "spatial_ref", "GeoTransform", "grid_mapping_name"} <= set(ref)
    for band in BANDS:
        assert ds[band].attrs["grid_mapping"] == "spatial_ref"
        assert ds[band].attrs["_FillValue"] == 0 and ds[band].attrs["nodata"] == 0
        assert ds[band].rio.nodata == 0
    assert ds["x"].attrs["standard_name"] == "projection_x_coordinate"


def test_pixels_equal_rioxarray_on_the_same_grid(adapter_coll, scenes: SceneSet):
    ds = adapter_coll.get_xarray(AOI, BANDS)
    epsg = ds.rio.crs.to_epsg()
    differing = warped = 0
    for t, rid in enumerate(ds["id"].to_numpy()):
        scene = _scene(scenes, rid)
        for band in BANDS:
            ours = ds[band].isel(time=t)
            with rioxarray.open_rasterio(scene.files[band]) as src:
                if scene.epsg == epsg:  # same lattice: the same pixels, exactly
                    theirs = src.isel(band=0).sel(x=ours.x, y=ours.y, method="nearest")
                    np.testing.assert_array_equal(ours.to_numpy(), theirs.to_numpy())
                    continue
                theirs = src.isel(band=0).rio.reproject_match(ours, resampling=Resampling.nearest)
            differing += int((ours.to_numpy() != theirs.to_numpy()).sum())
            warped += ours.size
    assert warped and differing / warped < 0.005  # GDAL's warp; at most a seam pixel differs


def test_lazy_dataset_reads_on_compute_in_tile_aligned_chunks(adapter_coll):
    tile_cache().clear()
    before = fetch.stats()
    lazy = adapter_coll.get_xarray(WIDE, BANDS, chunks={"time": 2})
    assert fetch.stats().requests == before.requests  # nothing read yet
    block = lazy["B04"].data
    assert block.chunks[0] == (2,) * (lazy.sizes["time"] // 2)
    transform = lazy.rio.transform()
    src = adapter_coll.band_source("B04")
    anchor = src.transform[src.ids.index(str(lazy["id"][0].item()))]
    col0 = round((transform.c - anchor[2]) / 10)
    row0 = round((transform.f - anchor[5]) / -10)
    x_edges = np.cumsum(block.chunks[2])[:-1] + col0
    y_edges = np.cumsum(block.chunks[1])[:-1] + row0
    assert len(x_edges) and len(y_edges)
    assert (x_edges % 512 == 0).all() and (y_edges % 512 == 0).all()  # the COG tile edges
    computed = lazy[BANDS].compute()
    assert fetch.stats().requests > before.requests
    eager = adapter_coll.get_xarray(WIDE, BANDS)
    xr.testing.assert_identical(computed, eager)  # warped records of the other zone too
    whole = adapter_coll.get_xarray(WIDE, BANDS, chunks={"time": 2, "y": -1, "x": -1})
    xr.testing.assert_identical(whole.compute(), eager)


@pytest.mark.parametrize(
    ("resampling", "dtype", "crs", "resolution", "chunk_sizes"),
    [
        ("nearest", None, 32644, 10.0, ((300, 300, 85), (350, 350, 350, 10))),
        ("bilinear", "float32", 32644, 10.0, ((300, 300, 85), (350, 350, 350, 10))),
        ("nearest", None, 32644, 20.0, ((300, 43), (350, 181))),  # 43N from overviews
    ],
    ids=["nearest", "bilinear", "overviews"],
)
def test_lazy_chunks_of_warped_records_equal_the_eager_read(
    adapter_coll, resampling, dtype, crs, resolution, chunk_sizes
):
    """Records of the other zone are warped chunk by chunk, in plain blocks smaller than the
    grid both ways that neither divide it nor follow the files' tiles: each chunk samples at
    the eager read's coordinates, so its pixels (and fill where none) are the same."""
    options = dict(crs=crs, resolution=resolution, resampling=resampling, dtype=dtype)
    eager = adapter_coll.get_xarray(WIDE, BANDS, **options)
    lazy = adapter_coll.get_xarray(WIDE, BANDS, chunks={"time": 3, "y": 300, "x": 350},
                                   **options)  # fmt: skip
    assert lazy["B04"].data.chunks[1:] == chunk_sizes  # plain blocks: not a tile lattice
    warped = np.array([f"{crs % 100}Q" not in i for i in eager["id"].to_numpy()])
    assert warped.any() and not warped.all()
    xr.testing.assert_identical(lazy.compute(), eager)


def test_lazy_chunks_read_a_record_whose_edges_do_not_project(global_coll):
    """The eager read samples a global record on a geostationary grid at every pixel; the
    lazy chunks must too, not raise while working out which chunks the record reaches."""
    options = dict(crs=GEOS, resolution=20_000)
    eager = global_coll.get_xarray((-80, -5, -70, 5), ["data"], **options)
    assert (eager["data"] > 0).all()  # the record covers every pixel
    lazy = global_coll.get_xarray((-80, -5, -70, 5), ["data"], chunks={"y": 20, "x": 20}, **options)
    xr.testing.assert_identical(lazy.compute(), eager)


def test_lazy_chunks_compute_in_worker_processes(adapter_coll):
    lazy = adapter_coll.get_xarray(AOI, BANDS, chunks={"time": 4})
    in_processes = lazy.compute(scheduler="processes", num_workers=2)
    xr.testing.assert_identical(in_processes, lazy.compute(scheduler="threads"))


def test_several_geometries_share_time_steps(adapter_coll):
    east = (LON + 0.03, LAT, LON + 0.04, LAT + 0.01)  # 44QKE only
    nowhere = (10.0, 10.0, 10.01, 10.01)
    with pytest.warns(EmptyReadWarning, match=r"geometry 1 with bounds \(10, 10,"):
        multi = adapter_coll.get_xarray([AOI, nowhere, east], "B04")
    assert multi["B04"].dims == ("geometry", "time", "y", "x")
    assert multi["geometry"].to_numpy().tolist() == [0, 2]  # no record covers the second
    assert multi["x"].dims == ("geometry", "x")
    for k, geometry in ((0, AOI), (1, east)):
        single = adapter_coll.get_xarray(geometry, "B04")
        h, w = single.sizes["y"], single.sizes["x"]
        part = multi["B04"].isel(geometry=k, y=slice(0, h), x=slice(0, w))
        part = part.swap_dims(time="id").sel(id=single["id"].to_numpy())
        np.testing.assert_array_equal(part.to_numpy(), single["B04"].to_numpy())
        np.testing.assert_array_equal(multi["x"][k, :w], single["x"])
    missing = multi["B04"].isel(geometry=1).swap_dims(time="id")
    in_43 = [i for i in missing["id"].to_numpy() if "43QHV" in i]
    assert (missing.sel(id=in_43) == 0).all()  # steps of records that miss it: fill


def test_merge_makes_one_step_per_day(adapter_coll):
    ds = adapter_coll.get_xarray(AOI, BANDS, merge="first")
    assert ds.sizes["time"] == 4
    assert all(len(ids.split(",")) == 2 for ids in ds["id"].to_numpy())
    assert (ds["B04"] > 0).mean() > 0.95  # two zones fill each other's gaps


def test_eager_reads_respect_max_memory(adapter_coll):
    with pytest.raises(MemoryLimitError, match="chunks="):
        adapter_coll.get_xarray(WIDE, BANDS, max_memory=1024)
    unlimited = adapter_coll.get_xarray(AOI, BANDS, max_memory=None)  # None: no limit
    xr.testing.assert_identical(unlimited, adapter_coll.get_xarray(AOI, BANDS))
    with pytest.raises(ValueError, match="unknown dims"):
        adapter_coll.get_xarray(AOI, BANDS, chunks={"band": 1})
    with pytest.raises(ValueError, match="positive"):
        adapter_coll.get_xarray(AOI, BANDS, chunks={"x": 0})


def test_stac_scale_offset_as_cf_attributes_and_applied_on_request(adapter_coll):
    """Sentinel-2 L2A items declare scale 0.0001, offset -0.1 and nodata 0 per band."""
    raw = adapter_coll.get_xarray(AOI, BANDS)
    for band in BANDS:
        attrs = raw[band].attrs
        assert (attrs["scale_factor"], attrs["add_offset"], attrs["_FillValue"]) == (
            0.0001,
            -0.1,
            0,
        )
    decoded = xr.decode_cf(raw.drop_vars("spatial_ref"))  # what CF readers make of them
    for eager in (True, False):
        ds = adapter_coll.get_xarray(AOI, BANDS, scale=True, chunks=None if eager else {"time": 2})
        for band in BANDS:
            assert ds[band].dtype == np.float32 and "scale_factor" not in ds[band].attrs
            expected = raw[band].astype(np.float32) * np.float32(0.0001) + np.float32(-0.1)
            expected = expected.where(raw[band] != 0)
            np.testing.assert_array_equal(ds[band].to_numpy(), expected.to_numpy())
            np.testing.assert_allclose(ds[band].to_numpy(), decoded[band].to_numpy(), atol=1e-6)
    east = (LON + 0.03, LAT, LON + 0.04, LAT + 0.01)  # 44QKE only: the other steps are fill
    multi = adapter_coll.get_xarray([AOI, east], "B04")
    scaled = adapter_coll.get_xarray([AOI, east], "B04", scale=True)["B04"]
    assert scaled.dims == ("geometry", "time", "y", "x")
    expected = (multi["B04"].astype(np.float32) * np.float32(0.0001) + np.float32(-0.1)).where(
        multi["B04"] != 0
    )
    np.testing.assert_array_equal(scaled.to_numpy(), expected.to_numpy())
    assert np.isnan(scaled.isel(geometry=1)).all(axis=(1, 2)).any()
