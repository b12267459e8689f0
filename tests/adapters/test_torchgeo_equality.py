"""Same files, same samplers, same seeds: CogdexGeoDataset's tensors equal those of TorchGeo's
own RasterDataset (nearest resampling, same grid).

In one CRS every chip is identical. Across CRSs RasterDataset resamples twice (each file
into a WarpedVRT on GDAL's suggested grid, then that VRT onto the chip) where cogdex warps
once, straight onto the chip: there cogdex equals GDAL's one-step warp
(rasterio.warp.reproject) and the two datasets differ on a fraction of the warped pixels,
nearly all by one pixel of position (the tolerances are stated in the test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.warp
import shapely
import torch
import torch.nn.functional as F
from pyproj import CRS
from rasterio.enums import Resampling
from torchgeo.datasets import RasterDataset
from torchgeo.samplers import (
    GriddedPatchSampler,
    GridGeoSampler,
    PreChippedGeoSampler,
    RandomGeoSampler,
    RandomPatchSampler,
)

from tests.adapters.conftest import BANDS, link_in_order
from tests.servers.scenes import SceneSet

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # TorchGeo's older samplers
]


class Reference(RasterDataset):
    """The scenes' B04/B08 files as TorchGeo reads them, dates from the file names."""

    filename_glob = "*_B04.tif"
    filename_regex = r"^(?P<k>\d{2})_(?P<date>\d{8})_(?P<band>B0[48])\.tif$"
    date_format = "%Y%m%d"
    separate_files = True
    all_bands = tuple(BANDS)


class NearestReference(Reference):
    @property
    def resampling(self) -> Resampling:
        return Resampling.nearest


def _reference(cls, ds, scenes: SceneSet, folder, **kwargs) -> RasterDataset:
    """`cls` over links to the files of `ds`'s records, named so that TorchGeo lists them
    in `ds`'s record order (the order both merge in)."""
    return cls(str(link_in_order(scenes, list(ds.index["id"]), folder)), bands=BANDS, **kwargs)


def _same(a: dict, b: dict, key: str = "image") -> None:
    assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape
    assert torch.equal(a[key], b[key])
    assert torch.equal(a["transform"], b["transform"])
    assert torch.equal(a["bounds"][:6], b["bounds"][:6])  # x and y; t: see _xy


def _xy(index: tuple[slice, ...]) -> tuple[tuple[float, float], ...]:
    """The spatial part of a sampler's slice. Times differ by design: TorchGeo dates a file
    by its name's day, cogdex a record by its instant; both select the same records."""
    return tuple((s.start, s.stop) for s in index[:2])


@pytest.fixture(scope="module")
def one_zone(zone43_coll, scenes, tmp_path_factory):
    ds = zone43_coll.to_torchgeo_dataset(BANDS)
    ref = _reference(Reference, ds, scenes, tmp_path_factory.mktemp("ref43"))
    return ds, ref


def test_one_crs_index_matches_so_samplers_give_the_same_chips(one_zone):
    ds, ref = one_zone
    assert ds.crs == ref.crs and ds.res == ref.res
    assert ds.bounds[:2] == ref.bounds[:2]
    assert (
        ds.index.geometry.reset_index(drop=True)
        .geom_equals(ref.index.geometry.reset_index(drop=True))
        .all()
    )
    for make in (
        lambda d: RandomPatchSampler(d, size=32, length=12, generator=7),
        lambda d: GriddedPatchSampler(d, size=64, stride=300),
    ):
        chips, ref_chips = list(make(ds)), list(make(ref))
        assert [_xy(c) for c in chips] == [_xy(c) for c in ref_chips]
        for chip in chips:  # defaults on both sides: float32 images
            _same(ds[chip], ref[chip])


def test_one_crs_older_samplers_with_time_slices(one_zone):
    ds, ref = one_zone
    roi = RandomPatchSampler(ds, size=40, length=1, generator=3)
    x, y = next(iter(roi))
    box = shapely.box(x.start, y.start, x.stop, y.stop)
    for make in (
        lambda d: RandomGeoSampler(d, size=16, length=10),
        lambda d: GridGeoSampler(d, size=16, stride=12, roi=box),
        lambda d: PreChippedGeoSampler(d, roi=box),
    ):
        torch.manual_seed(11)
        chips = list(make(ds))
        torch.manual_seed(11)
        ref_chips = list(make(ref))
        assert [_xy(c) for c in chips] == [_xy(c) for c in ref_chips]
        for mine, theirs in zip(chips, ref_chips, strict=True):
            _same(ds[mine], ref[theirs])


def test_one_crs_time_series_and_masks(zone43_coll, scenes, tmp_path_factory):
    ds = zone43_coll.to_torchgeo_dataset(BANDS, time_series=True, resampling="nearest")
    folder = tmp_path_factory.mktemp("ref43ts")
    ref = _reference(NearestReference, ds, scenes, folder, time_series=True)
    for chip in RandomPatchSampler(ds, size=24, length=6, generator=5):
        mine, theirs = ds[chip], ref[chip]
        assert mine["image"].shape[:2] == (4, 2)
        _same(mine, theirs)
    masks = zone43_coll.to_torchgeo_dataset("B04", is_image=False)
    ref_masks = NearestReference(str(folder), bands=["B04"])
    ref_masks.is_image = False
    for chip in GriddedPatchSampler(masks, size=48, stride=400):
        _same(masks[chip], ref_masks[chip], key="mask")


@pytest.mark.parametrize("sampler", ["random_geo", "grid_geo"])
def test_an_intersection_with_a_raster_dataset_cuts_the_query_box(
    zone43_coll, scenes, tmp_path_factory, sampler
):
    """`cogdex & RasterDataset`: the sampler's slice decides both parts' extent (TorchGeo's
    contract), whatever `chip_size` says, and each part equals its dataset alone."""
    ds = zone43_coll.to_torchgeo_dataset(BANDS, chip_size=64, resampling="nearest")
    folder = tmp_path_factory.mktemp("ref-and")
    images = _reference(NearestReference, ds, scenes, folder)
    masks = NearestReference(str(folder), bands=["B04"])
    masks.is_image = False
    both = ds & masks
    torch.manual_seed(5)
    if sampler == "random_geo":
        chips = list(RandomGeoSampler(both, size=32, length=6))
    else:
        x, y = next(iter(RandomPatchSampler(ds, size=80, length=1, generator=2)))
        roi = shapely.box(x.start, y.start, x.stop, y.stop)
        chips = list(GridGeoSampler(both, size=32, stride=24, roi=roi))
    assert chips
    for chip in (c[:2] for c in chips):  # see _xy; an instant finds no file in RasterDataset
        sample = both[chip]
        assert sample["image"].shape == (2, 32, 32) and sample["mask"].shape == (32, 32)
        assert torch.equal(sample["image"], images[chip]["image"])
        assert torch.equal(sample["mask"], masks[chip]["mask"])


def _records(ds, x: slice, y: slice, t: slice):
    """The index rows a chip meets, by GeoPandas: time interval and footprint."""
    when = ds.index.index.overlaps(pd.Interval(t.start, t.stop, closed="both"))
    return ds.index.iloc[when].cx[x.start : x.stop, y.start : y.stop]


def _gdal_first(ds, chip, scenes: SceneSet) -> torch.Tensor:
    """GDAL's one-step nearest warp of every matching record onto the chip, merged "first"."""
    x, y, t = ds._disambiguate_slice(chip)
    shape = (round((y.stop - y.start) / y.step), round((x.stop - x.start) / x.step))
    transform = rasterio.Affine(x.step, 0, x.start, 0, -y.step, y.stop)
    out = np.zeros((len(BANDS), *shape), np.uint16)
    by_id = {s.id: s for s in scenes.scenes}
    for rid in _records(ds, x, y, t)["id"]:
        for c, band in enumerate(BANDS):
            piece = np.zeros(shape, np.uint16)
            with rasterio.open(by_id[rid].files[band]) as src:
                rasterio.warp.reproject(
                    rasterio.band(src, 1), piece, dst_crs=ds.crs, dst_transform=transform,
                    resampling=Resampling.nearest, dst_nodata=0,
                )  # fmt: skip
            empty = (out[c] == 0) & (piece != 0)
            out[c][empty] = piece[empty]
    return torch.from_numpy(out.astype(np.float32))


def _near(image: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Where `other` equals `image` at the same pixel or one of its 8 neighbours."""
    padded = F.pad(image, (1, 1, 1, 1), value=-1.0)
    h, w = image.shape[-2:]
    hit = torch.zeros(image.shape, dtype=torch.bool)
    for dy in range(3):
        for dx in range(3):
            hit |= padded[..., dy : dy + h, dx : dx + w] == other
    return hit


def test_across_crs_equal_to_gdal_and_within_a_pixel_of_raster_dataset(
    adapter_coll, scenes, tmp_path_factory
):
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, res=10.0, resampling="nearest")
    folder = tmp_path_factory.mktemp("ref-cross")
    ref = _reference(NearestReference, ds, scenes, folder, crs=CRS.from_epsg(32643), res=10.0)
    chips = [
        *RandomPatchSampler(ref, size=48, length=8, generator=1),
        *GriddedPatchSampler(ref, size=96, stride=500),
    ]
    total = to_gdal = to_ref = far = 0
    for chip in chips:
        mine, theirs = ds[chip], ref[chip]
        assert mine["image"].shape == theirs["image"].shape
        assert torch.equal(mine["transform"], theirs["transform"])
        image = mine["image"]
        total += image.numel()
        to_gdal += int((image != _gdal_first(ds, chip, scenes)).sum())
        differ = image != theirs["image"]
        to_ref += int(differ.sum())
        far += int((differ & ~_near(image, theirs["image"])).sum())
    assert to_gdal / total < 1e-3  # cogdex is GDAL's one-step warp (a few seam pixels aside)
    assert to_ref / total < 0.15  # RasterDataset's second resampling moves some pixels...
    assert far / max(to_ref, 1) < 0.05  # ...by one pixel, bar a few on nodata edges and seams
