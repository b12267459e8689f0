"""A DataLoader batch is one read plan (`CogdexGeoDataset.__getitems__`): its samples equal
the per-chip ones bit for bit (time series, across CRSs, fill beyond the records, failed
reads filled), and a tile that several chips share is fetched once. The cast of pixels to
tensors equals RasterDataset's widening and cast for every type a file may hold."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
import shapely
import torch
from pyproj import CRS
from torchgeo.datasets import GeoDataset
from torchgeo.datasets.utils import array_to_tensor
from torchgeo.samplers import RandomPatchSampler

import cogdex
import cogdex_torchgeo.dataset as dataset_module
from cogdex.testing import RangeServer, parse_range
from cogdex_torchgeo import tensors
from tests.adapters.conftest import BANDS
from tests.servers.faults import FaultServer
from tests.servers.scenes import StacFiles

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # TorchGeo on pandas 3.1


def _chip(ds, x0: float, y1: float, size: int) -> tuple[slice, slice]:
    xres, yres = ds.res
    return slice(x0, x0 + size * xres), slice(y1 - size * yres, y1)


def _chips(ds) -> list[tuple[slice, slice]]:
    """Random chips, chips half off the records (fill), one where both UTM zones' records
    meet (warped and native steps), and one of another size (its own plan)."""
    chips = list(RandomPatchSampler(ds, size=64, length=5, generator=7))
    x, y, _ = ds.bounds
    xres, yres = ds.res
    chips.append(_chip(ds, x.start - 32 * xres, y.stop + 32 * yres, 64))  # upper-left corner
    chips.append(_chip(ds, x.stop - 32 * xres, y.start + 32 * yres, 64))  # lower-right corner
    zones = ds.index.groupby(ds.index["id"].str.contains("44")).geometry.apply(shapely.union_all)
    if len(zones) == 2:  # the records of both zones meet
        middle = shapely.intersection(*zones).centroid
        x0 = x.start + round((middle.x - x.start) / xres) * xres
        y1 = y.stop - round((y.stop - middle.y) / yres) * yres
        chips.append(_chip(ds, x0, y1, 64))
        chips.append(_chip(ds, x0 + 8 * xres, y1 - 8 * yres, 48))
    return chips


def _same(batch: list[dict], one_by_one: list[dict]) -> None:
    assert len(batch) == len(one_by_one)
    for got, want in zip(batch, one_by_one, strict=True):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key].dtype == want[key].dtype, key
            assert torch.equal(got[key], want[key]), key


@pytest.mark.parametrize(
    "options",
    [
        {"crs": 32643, "time_series": True},
        {"crs": 32643, "time_series": True, "fill_value": 7, "resampling": "bilinear"},
        {"crs": 32643, "merge": "mean", "fill_value": 3},
        {"crs": 32644, "merge": "first", "is_image": False},
        {"crs": 32643, "time_series": True, "on_error": "fill", "dtype": torch.int32},
    ],
    ids=["time-series", "bilinear-fill", "mean", "mask", "on-error-fill"],
)
def test_a_batch_equals_its_chips_read_one_by_one(adapter_coll, options):
    ds = adapter_coll.to_torchgeo_dataset(BANDS, **options)
    chips = _chips(ds)
    assert len(chips) == 9  # the zones meet: the cross-CRS chips are in
    one_by_one = [ds[c] for c in chips]
    _same(ds.__getitems__(chips), one_by_one)
    if options.get("fill_value") is not None:  # the corner chips are partly fill
        assert any(bool((s["image"] == options["fill_value"]).any()) for s in one_by_one)


def test_a_batch_with_a_failed_read_fills_only_the_chips_it_fails(
    fault_server: FaultServer, fault_coll, scenes, fast_uncached_reads
):
    """One file lost (a UTM 44N scene): the batch's one read fails, and its chips are read
    again one by one, so that only the chips over that file are filled, warned of, counted."""
    lost = next(s for s in scenes.scenes if s.epsg == 32644)
    fault_server.inject(lost.keys["B04"], ["404"] * 10_000)
    options = {"crs": 32643, "res": 10.0, "time_series": True, "on_error": "fill"}
    chips = _chips(fault_coll.to_torchgeo_dataset(BANDS, **options))
    one = fault_coll.to_torchgeo_dataset(BANDS, fill_value=7, **options)
    batched = fault_coll.to_torchgeo_dataset(BANDS, fill_value=7, **options)
    with pytest.warns(cogdex.ReadFailureWarning):
        want = [one[c] for c in chips]
    with pytest.warns(cogdex.ReadFailureWarning) as caught:
        got = batched.__getitems__(chips)
    _same(got, want)
    flags = [bool(s["read_failed"]) for s in got]
    assert any(flags) and not all(flags)
    # which range of the lost file fails first is a race: the rest is the same
    assert [replace(f, byte_range=None) for f in batched.failed_reads] == [
        replace(f, byte_range=None) for f in one.failed_reads
    ]
    assert len(caught) == sum(flags)


def test_chips_find_the_records_geopandas_finds(adapter_coll):
    """The records under a chip are those GeoPandas' `.cx` finds (footprint meets the chip's
    box) among those whose time meets the query, in index order; also once a change of CRS
    (an intersection with another dataset) has turned the footprints into quadrilaterals."""
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, time_series=True)
    _, _, t = ds.bounds
    middle = t.start + (t.stop - t.start) / 2
    times = [t, slice(t.start, middle), slice(middle, t.stop, 2)]
    found = 0
    for crs in (ds.crs, CRS.from_epsg(32644)):
        ds.crs = crs
        chips = [*RandomPatchSampler(ds, size=300, length=6, generator=3), _chip(ds, 0, 0, 8)]
        for (cx, cy), when in itertools.product(chips, times):
            records = ds.index.iloc[
                ds.index.index.overlaps(pd.Interval(when.start, when.stop, closed="both"))
            ]
            records = records.iloc[:: when.step or 1].cx[cx.start : cx.stop, cy.start : cy.stop]
            got = ds._hit_rows(cx, cy, slice(when.start, when.stop, when.step or 1))
            assert got.tolist() == records["row"].tolist()
            found += len(got)
    assert found


def test_a_batch_is_one_read_plan(adapter_coll, monkeypatch):
    calls = []
    real = dataset_module.read_slots

    def counting(slots, sources, **kwargs):
        calls.append(len(slots))
        return real(slots, sources, **kwargs)

    monkeypatch.setattr(dataset_module, "read_slots", counting)
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, time_series=True, chip_size=32)
    chips = list(RandomPatchSampler(ds, size=32, length=4, generator=2))
    steps = [len(s["image"]) for s in ds.__getitems__(chips)]
    assert calls == [sum(steps)]  # every step of every chip in one plan


def test_chips_that_share_tiles_fetch_them_once(
    stac_files: StacFiles, logged_server: RangeServer, tmp_path, fast_uncached_reads
):
    """No tile cache: chips read one by one fetch their shared tiles once per chip, a batch
    fetches each byte once."""
    coll = cogdex.build_from_stac(
        stac_files.items_json,
        name="batch-bytes",
        bands=BANDS,
        href_rewrites={stac_files.base_url: logged_server.url},
        cache_dir=tmp_path,
    ).where(pc.field("epsg") == 32643)
    ds = coll.to_torchgeo_dataset(BANDS, time_series=True, chip_size=32)
    x, y, _ = ds.bounds
    xres, yres = ds.res
    chips = [_chip(ds, x.start + (300 + k * 8) * xres, y.stop - 300 * yres, 32) for k in range(3)]

    def fetched() -> list[tuple[str, int, int]]:
        spans = []
        for r in logged_server.requests:
            start, stop = parse_range(r.range, 1 << 62) or (0, 1 << 62)
            spans.append((r.path, start, stop))
        logged_server.clear_log()
        return spans

    logged_server.clear_log()
    want = [ds[c] for c in chips]
    apart = fetched()
    got = ds.__getitems__(chips)
    together = fetched()
    _same(got, want)
    assert len(together) < len(apart)
    for path in {p for p, _, _ in together}:  # no byte of a file fetched twice
        spans = sorted((a, b) for p, a, b in together if p == path)
        assert all(b0 <= a1 for (_, b0), (a1, _) in itertools.pairwise(spans))


@pytest.mark.parametrize("source", ["uint8", "int8", "uint16", "int16", "uint32", "int32",
                                    "int64", "float32", "float64"])  # fmt: skip
@pytest.mark.parametrize(
    "target", [torch.float32, torch.float64, torch.int16, torch.int32, torch.int64, torch.uint8]
)
def test_tensors_equal_raster_dataset_widening_and_cast(source, target):
    kind = np.dtype(source)
    if kind.kind == "f":
        info = np.finfo(kind)
        values = np.array([0, -1.5, 2.5, 1e-30, 16777217, info.max, info.min, np.inf, np.nan])
    else:
        info = np.iinfo(kind)
        values = np.array([0, 1, info.max, info.min, info.max - 1, 16777217, 2**53 + 1])
    array = values.astype(kind)[None, :]
    want = array_to_tensor(array).to(target)
    got = tensors.to_tensor(array, target)
    assert got.dtype == want.dtype
    assert np.array_equal(got.numpy(), want.numpy(), equal_nan=target.is_floating_point)


def test_a_lazily_loaded_index_gives_the_dataset_only_its_bands_headers(
    adapter_coll, tmp_path, monkeypatch
):
    """The dataset reads the rows without assets and the headers of its own bands: a loaded
    index keeps every other band's headers on disk (and the dataset sees the same rows)."""
    from cogdex.index.store import IndexFiles

    adapter_coll.export(tmp_path / "index.parquet")
    lazy = cogdex.load(tmp_path / "index.parquet")
    asked: list[object] = []
    read_assets = IndexFiles.read_assets

    def spy(self, where, keys=None):
        asked.append(None if keys is None else list(keys))
        return read_assets(self, where, keys)

    monkeypatch.setattr(IndexFiles, "read_assets", spy)
    ds = lazy.to_torchgeo_dataset("B04", crs=32643, time_series=True)
    assert asked == [[lazy.band_map["B04"].asset]]
    eager = adapter_coll.to_torchgeo_dataset("B04", crs=32643, time_series=True)
    pd.testing.assert_frame_equal(ds.index, eager.index)


def test_bounds_are_worked_out_again_when_the_index_or_res_changes(adapter_coll):
    """`bounds` is kept between queries, but follows TorchGeo's in-place changes: the `crs`
    setter reprojects the index's footprints, the `res` setter changes the steps."""
    ds = adapter_coll.to_torchgeo_dataset(BANDS, crs=32643, time_series=True)

    def fresh() -> tuple[slice, slice, slice]:
        return GeoDataset.bounds.fget(ds)

    first = ds.bounds
    assert first == fresh()
    ds.crs = CRS.from_epsg(32644)
    assert ds.bounds == fresh() != first
    ds.res = (20.0, 20.0)
    assert ds.bounds == fresh() and ds.bounds[0].step == 20.0
    chip = next(iter(RandomPatchSampler(ds, size=16, length=1, generator=0)))
    assert ds[chip]["image"].shape[-2:] == (16, 16)
