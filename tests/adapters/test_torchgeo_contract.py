"""CogdexGeoDataset honours TorchGeo 0.10's GeoDataset contract, over the real HTTP server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.warp
import shapely
import torch
from pyproj import CRS, Transformer
from torch.utils.data import DataLoader
from torchgeo.datasets import (
    GeoDataset,
    IntersectionDataset,
    RasterDataset,
    UnionDataset,
    stack_samples,
)
from torchgeo.samplers import (
    GriddedPatchSampler,
    GridGeoSampler,
    PreChippedGeoSampler,
    RandomBatchGeoSampler,
    RandomGeoSampler,
    RandomPatchSampler,
)

import cogdex
import cogdex_torchgeo.dataset as dataset_module
from cogdex_torchgeo import CogdexGeoDataset
from tests.adapters.conftest import BANDS, GEOS
from tests.index.annual_items import io_lulc
from tests.servers.scenes import SceneSet

# TorchGeo 0.10 deprecates its older samplers (still supported, hence tested) and calls a
# pandas API that pandas 3.1 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The inplace keyword"),
]


def _window(ds, col: int, row: int, size: int, t: slice | None = None) -> tuple[slice, ...]:
    """Slices of a `size`-pixel chip `col`/`row` pixels from the dataset's upper-left corner."""
    x, y, _ = ds.bounds
    xres, yres = ds.res
    x0, y1 = x.start + col * xres, y.stop - row * yres
    xy = (slice(x0, x0 + size * xres), slice(y1 - size * yres, y1))
    return xy if t is None else (*xy, t)


def test_index_crs_and_res(adapter_coll, scenes: SceneSet):
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643)
    assert isinstance(ds, GeoDataset) and isinstance(ds, CogdexGeoDataset)
    index = ds.index
    assert isinstance(index.index, pd.IntervalIndex)
    assert index.index.name == "datetime" and index.index.closed == "both"
    assert index.crs == CRS.from_epsg(32643) and ds.crs == index.crs
    assert ds.res == (10.0, 10.0) and all(type(v) is float for v in ds.res)
    assert len(ds) == len(scenes.scenes)  # the other zone's records are indexed, not dropped
    assert list(index.index.left) == sorted(index.index.left)  # time order
    to_43 = Transformer.from_crs(32644, 32643, always_xy=True)
    for footprint, rid, when in zip(index.geometry, index["id"], index.index.left, strict=True):
        scene = next(s for s in scenes.scenes if s.id == rid)
        assert when == pd.Timestamp(scene.datetime).tz_convert(None)
        if scene.epsg == 32643:
            assert footprint.equals(shapely.box(*scene.bounds))
        else:
            left, bottom, right, top = scene.bounds
            corners = to_43.transform([left, right, right, left], [top, top, bottom, bottom])
            hull = shapely.MultiPoint(np.column_stack(corners)).convex_hull
            assert footprint.covers(hull)  # widened to the 10 m lattice of the 43N records
            assert footprint.bounds == pytest.approx(hull.bounds, abs=10.0 + 1.0)
            assert all(v % 10 == 0 for v in footprint.bounds)
    default = adapter_coll.to_torchgeo_dataset("B04")
    earliest = min(scenes.scenes, key=lambda s: (s.datetime, s.id))  # not the first row's
    assert default.crs == CRS.from_epsg(earliest.epsg)


def test_partial_slices_fill_from_bounds_and_steps_are_resolution(adapter_coll):
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, resampling="nearest")
    x, y = _window(ds, 300, 300, 24)
    _, _, t = ds.bounds
    two = ds[x, y]
    three = ds[x, y, t]
    assert two["image"].shape == (2, 24, 24)
    assert torch.equal(two["image"], three["image"]) and torch.equal(two["bounds"], three["bounds"])
    coarse = ds[slice(x.start, x.stop, 20.0), slice(y.start, y.stop, 20.0)]  # steps: 20 m
    assert coarse["image"].shape == (2, 12, 12) and (coarse["image"] > 0).all()
    assert coarse["transform"][0] == 20.0 and coarse["bounds"][2] == 20.0


def test_time_slices_filter_and_step(adapter_coll):
    ds = adapter_coll.to_torchgeo_dataset(
        BANDS, crs=32643, time_series=True, label_field="cloud_cover"
    )
    times = ds.index.index.left
    x, y = _window(ds, 800, 400, 8)  # on the zone boundary: both tiles cover it
    everything = ds[x, y]
    assert everything["image"].shape == (8, 2, 8, 8)
    first_two_days = ds[x, y, slice(times[0], times[3])]
    assert first_two_days["image"].shape[0] == 4
    assert torch.equal(first_two_days["image"], everything["image"][:4])
    every_other = ds[x, y, slice(times[0], times[-1], 2)]
    assert torch.equal(every_other["image"], everything["image"][::2])
    assert torch.equal(every_other["label"], everything["label"][::2])


def test_index_error_when_nothing_matches(adapter_coll):
    ds = adapter_coll.to_torchgeo_dataset(BANDS)
    x, y, t = ds.bounds
    far = slice(x.stop + 1000, x.stop + 1320)
    with pytest.raises(IndexError):
        ds[far, slice(y.start, y.start + 320)]
    xs, ys = _window(ds, 10, 10, 8)
    before = slice(t.start - pd.Timedelta(days=30), t.start - pd.Timedelta(days=1))
    with pytest.raises(IndexError):
        ds[xs, ys, before]


def test_samples_are_tensors_with_raster_dataset_dtypes(adapter_coll):
    # RasterDataset's defaults: float32 images resampled bilinearly, int64 masks nearest
    assert adapter_coll.to_torchgeo_dataset(BANDS).resampling == "bilinear"
    assert adapter_coll.to_torchgeo_dataset(BANDS, dtype=torch.int32).resampling == "nearest"
    image = adapter_coll.to_torchgeo_dataset(
        BANDS, crs=32643, label_field="cloud_cover", resampling="nearest"
    )
    xy = _window(image, 200, 200, 16)
    sample = image[xy]
    assert set(sample) == {"image", "bounds", "transform", "label"}
    assert all(isinstance(v, torch.Tensor) for v in sample.values())
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (2, 16, 16)
    native = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, dtype=torch.int32)[xy]["image"]
    assert native.dtype == torch.int32 and torch.equal(native.float(), sample["image"])
    assert native.max() > 255  # uint16 values, widened not wrapped
    assert sample["label"].dtype == torch.float64 and sample["label"].ndim == 0
    mask = adapter_coll.to_torchgeo_dataset("B04", crs=32643, is_image=False)[xy]
    assert set(mask) == {"mask", "bounds", "transform"}
    assert mask["mask"].dtype == torch.long and mask["mask"].shape == (16, 16)
    assert torch.equal(mask["mask"].float(), sample["image"][0])
    x, y = xy
    assert sample["transform"].tolist() == [10.0, 0.0, x.start, 0.0, -10.0, y.stop, 0.0, 0.0, 1.0]


def test_labels_must_be_numeric(adapter_coll):
    with pytest.raises(TypeError, match="platform"):
        adapter_coll.to_torchgeo_dataset(BANDS, label_field="platform")
    with pytest.raises(KeyError, match="nope"):
        adapter_coll.to_torchgeo_dataset(BANDS, label_field="nope")


def test_chip_size_sets_only_what_the_query_leaves_open(adapter_coll):
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, chip_size=(12, 20))
    x, y = _window(ds, 100, 100, 50)
    assert ds[x, y]["image"].shape == (2, 50, 50)  # the query's box wins (TorchGeo's contract)
    whole = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643)[x, y]["image"]
    sample = ds[x.start :, : y.stop]  # 12 x 20 px from the corner the query gives
    assert sample["image"].shape == (2, 12, 20)
    left, right, _, bottom, top = sample["bounds"][[0, 1, 2, 3, 4]].tolist()
    assert (right - left, top - bottom) == pytest.approx((200.0, 120.0), abs=0.5)  # float32
    assert torch.equal(whole[:, :12, :20], sample["image"])
    assert torch.equal(whole[:, -12:, -20:], ds[: x.stop, y.start :]["image"])


def test_other_crs_is_warped_onto_the_dataset_grid(adapter_coll, scenes: SceneSet):
    ds = adapter_coll.to_torchgeo_dataset("B04", crs=32643, time_series=True, dtype=torch.int32)
    zone44 = ds.index[ds.index["id"].str.contains("44QKE")]
    inner = zone44.geometry.iloc[0].buffer(-3000).bounds  # inside 44QKE, outside 43QHV
    x = slice(inner[2] - 160, inner[2])
    y = slice(inner[3] - 160, inner[3])
    sample = ds[x, y]
    assert sample["image"].shape[0] == 4  # the four 44QKE records
    assert (sample["image"] > 0).float().mean() > 0.99
    scene = next(s for s in scenes.scenes if s.id == zone44["id"].iloc[0])
    with rasterio.open(scene.files["B04"]) as src:
        want = np.zeros((16, 16), np.uint16)
        rasterio.warp.reproject(
            rasterio.band(src, 1), want, dst_crs="EPSG:32643",
            dst_transform=rasterio.Affine(10, 0, x.start, 0, -10, y.stop),
            resampling=rasterio.warp.Resampling.nearest,
        )  # fmt: skip
    assert np.array_equal(sample["image"][0, 0].numpy(), want)


def test_a_record_whose_edges_do_not_project_is_indexed_by_its_inside(global_coll):
    """A global lon/lat record in a geostationary dataset: none of its edge points projects,
    so its box comes from points inside it (GDAL's fallback too), not dropped as unreadable;
    its chips equal the numpy read of the same grid."""
    ds = global_coll.to_torchgeo_dataset(["data"], crs=GEOS, res=20_000, dtype=torch.int32)
    assert len(ds) == 1
    x, y = ds.bounds[0], ds.bounds[1]
    assert -5.5e6 < x.start < -5e6 and 5e6 < x.stop < 5.5e6  # the visible disk's extent
    assert -5.5e6 < y.start < -5e6 and 5e6 < y.stop < 5.5e6
    box = (-200_000.0, -200_000.0, 200_000.0, 200_000.0)
    chip = ds[box[0] : box[2], box[1] : box[3]]["image"][0].numpy()
    want = global_coll.get_numpy(box, ["data"], geometry_crs=GEOS, crs=GEOS, resolution=20_000)
    assert chip.shape == (20, 20) and (chip > 0).all()
    np.testing.assert_array_equal(chip, want[0])


def test_a_record_across_the_antimeridian_is_refused_in_a_lon_lat_dataset(tmp_path):
    """Its edge points in lon/lat jump from +180 to -180, so its box spanned every
    longitude: samplers drew chips around the globe and each read as this record."""
    import pyarrow as pa

    from cogdex.testing import write_cog

    x, y = Transformer.from_crs(4326, 32660, always_xy=True).transform(179.98, 10.02)
    path = write_cog(tmp_path / "across.tif", np.ones((512, 512), np.uint16), 32660,
                     (10, 0, round(x) - 2000, 0, -10, round(y) + 2000))  # fmt: skip
    table = pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [str(path)]})
    coll = cogdex.build_from_table(table, name="across", cache=False)
    with pytest.raises(ValueError, match=r"crosses the antimeridian.*projected crs="):
        coll.to_torchgeo_dataset(["data"], crs=4326, res=0.0001)
    ds = coll.to_torchgeo_dataset(["data"], crs=32660)  # in a projected CRS: one box
    assert ds.bounds[0].stop - ds.bounds[0].start == 5120


def test_a_fill_value_the_files_type_cannot_hold_names_what_works(adapter_coll):
    """The chips are read and filled in the files' uint16 and `dtype=` only converts the
    samples after, so the core error's advice ("or dtype= a type that holds it") was
    wrong here: dtype=torch.int32 still failed, at the first sample. Refused when the
    dataset is made, with advice the dataset can follow."""
    for dtype in (None, torch.int32):
        with pytest.raises(ValueError, match="is not a uint16 value") as info:
            adapter_coll.to_torchgeo_dataset(BANDS, fill_value=-1, dtype=dtype)
        assert "pass one uint16 holds" in str(info.value)
        assert "dtype= a type that holds it" not in str(info.value)
    ds = adapter_coll.to_torchgeo_dataset(BANDS, fill_value=65535, dtype=torch.int32)
    assert ds.fill_value == 65535


def test_one_read_plan_per_sample(adapter_coll, monkeypatch):
    calls = []
    real = dataset_module.read_slots

    def counting(slots, sources, **kwargs):
        calls.append((len(slots), len(sources)))
        return real(slots, sources, **kwargs)

    monkeypatch.setattr(dataset_module, "read_slots", counting)
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, time_series=True)
    sample = ds[_window(ds, 800, 400, 8)]
    assert sample["image"].shape[:2] == (8, 2)
    assert calls == [(8, 2)]  # all T x C reads in one plan


def _all_samplers(ds) -> dict[str, object]:
    torch.manual_seed(0)
    return {
        "random_patch": RandomPatchSampler(ds, size=8, length=4, generator=0),
        "gridded_patch": GriddedPatchSampler(ds, size=8, stride=250),
        "random_geo": RandomGeoSampler(ds, size=8, length=4),
        "grid_geo": GridGeoSampler(ds, size=8, stride=16, roi=shapely.box(*_box(ds, 780, 400, 40))),
        "prechipped": PreChippedGeoSampler(ds, roi=shapely.box(*_box(ds, 500, 500, 8))),
    }


def _box(ds, col: int, row: int, size: int) -> tuple[float, float, float, float]:
    x, y = _window(ds, col, row, size)
    return x.start, y.start, x.stop, y.stop


def test_every_sampler_works_through_a_dataloader(adapter_coll):
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, chip_size=8)
    for name, sampler in _all_samplers(ds).items():
        batches = list(DataLoader(ds, sampler=sampler, batch_size=4, collate_fn=stack_samples))
        assert batches, name
        for batch in batches:
            assert batch["image"].shape[1:] == (2, 8, 8), name
            assert batch["bounds"].shape[1] == 9 and batch["transform"].shape[1] == 9
    batch_sampler = RandomBatchGeoSampler(ds, size=8, batch_size=3, length=6)
    batches = list(DataLoader(ds, batch_sampler=batch_sampler, collate_fn=stack_samples))
    assert [b["image"].shape for b in batches] == [(3, 2, 8, 8)] * 2


class _Labels(RasterDataset):
    filename_glob = "labels*.tif"
    is_image = False


@pytest.fixture(scope="module")
def labels(tmp_path_factory, zone43_coll) -> _Labels:
    """A TorchGeo RasterDataset of class labels over part of 43QHV."""
    folder: Path = tmp_path_factory.mktemp("labels")
    src = zone43_coll.band_source("B04")
    a, _, c, _, e, f = src.transform[0]
    classes = (np.arange(300 * 300).reshape(300, 300) % 7).astype(np.uint8)
    profile = {
        "driver": "GTiff", "dtype": "uint8", "count": 1, "height": 300, "width": 300,
        "crs": "EPSG:32643", "transform": rasterio.Affine(a, 0, c + 2000, 0, e, f - 2000),
    }  # fmt: skip
    with rasterio.open(folder / "labels.tif", "w", **profile) as dst:
        dst.write(classes, 1)
    return _Labels(str(folder))


def test_intersection_and_union_with_torchgeo_datasets(adapter_coll, labels: _Labels):
    images = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643)
    both = images & labels
    assert isinstance(both, IntersectionDataset)
    sampler = RandomPatchSampler(both, size=16, length=6, generator=1)
    batch = next(iter(DataLoader(both, sampler=sampler, batch_size=6, collate_fn=stack_samples)))
    assert batch["image"].shape == (6, 2, 16, 16) and batch["mask"].shape == (6, 16, 16)
    assert batch["mask"].dtype == torch.long and int(batch["mask"].max()) > 0
    # second in line, cogdex's dataset is moved into the labels' CRS by TorchGeo
    other = adapter_coll.to_torchgeo_dataset(BANDS, crs=32644)
    swapped = labels & other
    assert other.crs == labels.crs
    sample = swapped[next(iter(RandomPatchSampler(swapped, size=16, length=1, generator=2)))]
    assert sample["image"].shape == (2, 16, 16) and (sample["image"] > 0).any()
    union = images | labels
    assert isinstance(union, UnionDataset)
    x, y = _window(images, 50, 50, 16)  # outside the labels: only the images answer
    assert torch.equal(union[x, y]["image"], images[x, y]["image"])


def test_records_with_a_time_range_span_it_in_the_index(stac_files, tmp_path):
    """IO LULC annual maps (`datetime: null`, start/end of the year) cover their year."""
    items = [io_lulc(stac_files, year) for year in (2020, 2021)]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    coll = cogdex.build_from_stac(path, name="lulc", cache_dir=tmp_path)
    index = coll.to_torchgeo_dataset("data").index.sort_values("id")
    assert list(index.index.left) == [pd.Timestamp(2020, 1, 1), pd.Timestamp(2021, 1, 1)]
    assert list(index.index.right) == [pd.Timestamp(2021, 1, 1), pd.Timestamp(2022, 1, 1)]
