"""Items whose time is a range (annual products: `datetime: null`, start/end) are found by
`date_range` when the range overlaps it, on static files and tables as on a real STAC API,
and keep their start and end in the index."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import rustac

import cogdex
from tests.index.annual_items import annual_items
from tests.servers.stac_api import StacApi, start_stac_api

JUNE_2021 = ("2021-06-01", "2021-06-30")
IO_LULC = "io-lulc-annual-v02"
WANTED = {
    "esa-worldcover": ["ESA_WorldCover_10m_2021_v200_N18E075"],
    IO_LULC: ["44Q-2021"],
    "usda-cdl": ["2021_cropland_0"],
}


@pytest.fixture(scope="module")
def annual(stac_files, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """(ItemCollection of every annual item, stac-geoparquet of each collection's items:
    the test API serves one collection per file)."""
    folder = tmp_path_factory.mktemp("annual")
    items = annual_items(stac_files)
    collection = folder / "items.json"
    collection.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    parquets = {}
    for name in WANTED:
        parquets[name] = folder / f"{name}.parquet"
        rustac.write_sync(str(parquets[name]), [i for i in items if i["collection"] == name])
    return collection, parquets


@pytest.fixture(scope="module")
def annual_apis(annual, server_logs) -> Iterator[dict[str, StacApi]]:
    apis = {name: start_stac_api(path, server_logs / name) for name, path in annual[1].items()}
    yield apis
    for api in apis.values():
        api.process.stop()


@pytest.mark.parametrize(
    "date_range",
    [JUNE_2021, ("2021-12-31T23:59:59Z", "2021-12-31T23:59:59Z")],
    ids=["june", "last-second"],
)
def test_date_range_finds_items_whose_range_overlaps_it_as_the_api_does(
    date_range, annual, annual_apis, tmp_path
):
    kwargs = {"date_range": date_range, "cache_dir": tmp_path}
    for collection, ids in WANTED.items():
        static = cogdex.build_from_stac(annual[0], collection, name=collection, **kwargs)
        api = cogdex.build_from_stac(
            annual_apis[collection].url, collection, name=f"{collection}-api", **kwargs
        )
        assert static.ids == api.ids == ids


def test_range_items_store_their_start_and_end(annual, tmp_path):
    coll = cogdex.build_from_stac(annual[0], IO_LULC, name="io", cache_dir=tmp_path)
    table = coll.to_arrow().sort_by("id")
    utc = dt.UTC
    starts = [dt.datetime(y, 1, 1, tzinfo=utc) for y in (2020, 2021, 2022)]
    assert table.column("datetime").to_pylist() == starts
    assert table.column("start_datetime").to_pylist() == starts
    ends = [dt.datetime(y + 1, 1, 1, tzinfo=utc) for y in (2020, 2021, 2022)]
    assert table.column("end_datetime").to_pylist() == ends


def test_table_date_range_finds_range_items(annual, tmp_path):
    """A stac-geoparquet export of range items has a null `datetime` column."""
    coll = cogdex.build_from_table(
        annual[1][IO_LULC], name="table", date_range=JUNE_2021, cache_dir=tmp_path
    )
    assert coll.ids == WANTED[IO_LULC]


def test_subset_by_date_matches_overlapping_ranges_in_memory_and_on_disk(
    stac_files, annual, tmp_path
):
    """Range records and instant ones (no `end_datetime`) in one collection."""
    scene = copy.deepcopy(stac_files.items[3])
    items = [*annual_items(stac_files), scene]
    for item in items:
        tiff = next(k for k, a in item["assets"].items() if "tiff" in a.get("type", ""))
        item["assets"] = {"data": item["assets"][tiff]}
        item["collection"] = "mixed"
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    built = cogdex.build_from_stac(path, name="mixed", cache_dir=tmp_path)
    assert len(built) == len(items)
    loaded = cogdex.load(built.location)
    for coll in (built, loaded):
        june = coll.subset(date_range=JUNE_2021)
        assert sorted(june.ids) == sorted(i for ids in WANTED.values() for i in ids)
        day = scene["properties"]["datetime"][:10]
        assert coll.subset(date_range=(day, day)).ids == [scene["id"]]
        new_year = coll.subset(date_range=("2022-12-31", "2023-01-01"))
        assert sorted(new_year.ids) == ["2022_cropland_0", "44Q-2022"]
