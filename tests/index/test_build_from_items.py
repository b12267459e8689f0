"""`build_from_items` with items of the user's own pystac-client search of the real STAC API
(in every shape a search hands out), its cache key, and what `build_from_stac` passes to
pystac-client (a modifier, headers)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pystac_client import Client

import cogdex
from cogdex.errors import BuildError
from cogdex.index import stac_api as stac_api_module
from cogdex.io import fetch
from tests.servers.scenes import COLLECTION

BANDS = ["B04", "B08"]
BBOX = (77.5, 19.5, 78.5, 20.5)


def _content(coll: cogdex.Collection) -> list[tuple[str, dict[str, Any], Any]]:
    """(id, asset hrefs, B04 header) per item, in id order."""
    rows = sorted(zip(coll.ids, coll.to_arrow()["assets"].to_pylist(), strict=True))
    return [
        (i, {k: a["href"] for k, a in assets.items()}, coll.header(i, "B04")) for i, assets in rows
    ]


@pytest.fixture(scope="module")
def searched(stac_api, tmp_path_factory) -> tuple[Any, Any]:
    """(the pystac-client search, build_from_stac's collection for the same search)."""
    search = Client.open(stac_api.url).search(collections=[COLLECTION], bbox=BBOX)
    cache = tmp_path_factory.mktemp("stac")
    built = cogdex.build_from_stac(
        stac_api.url, COLLECTION, name="s", bbox=BBOX, bands=BANDS, cache_dir=cache
    )
    assert len(built)
    return search, built


@pytest.mark.parametrize(
    "shape",
    [
        lambda s: s.items(),  # a generator of pystac Items
        lambda s: s,  # the ItemSearch itself
        lambda s: s.item_collection(),  # a pystac ItemCollection
        lambda s: s.item_collection_as_dict(),  # an ItemCollection dict
        lambda s: list(s.items_as_dicts()),  # item dicts
        lambda s: list(s.items()),  # pystac Items
        lambda s: [s.item_collection()],  # an iterable of ItemCollections
    ],
    ids=["generator", "search", "collection", "collection-dict", "dicts", "items", "nested"],
)
def test_items_of_any_shape_give_build_from_stacs_collection(shape, searched, tmp_path):
    search, built = searched
    coll = cogdex.build_from_items(shape(search), name="mine", bands=BANDS, cache_dir=tmp_path)
    assert _content(coll) == _content(built)
    assert coll.source["type"] == "stac-items" and coll.source["items"] == len(built)


def test_the_same_items_load_from_cache_and_other_items_clash(searched, tmp_path):
    search, _ = searched
    items = list(search.items_as_dicts())
    kwargs: dict[str, Any] = {"name": "mine", "bands": BANDS, "cache_dir": tmp_path}
    first = cogdex.build_from_items(items, **kwargs)
    signed = [dict(i) for i in reversed(items)]  # other order, re-signed hrefs: same items
    for item in signed:
        item["assets"] = {k: {**a, "href": a["href"] + "?sig=1"} for k, a in item["assets"].items()}
    with fetch.recording() as rec:
        again = cogdex.build_from_items(signed, **kwargs)
    assert rec.requests == 0 and again.location == first.location
    with pytest.raises(BuildError, match="built with other arguments"):
        cogdex.build_from_items(items[:2], **kwargs)
    fewer = cogdex.build_from_items(items[:2], force=True, **kwargs)
    assert len(fewer) == 2 and fewer.location == first.location


def test_what_is_not_an_item_is_refused(tmp_path):
    with pytest.raises(BuildError, match="not a STAC item or ItemCollection"):
        cogdex.build_from_items([{"type": "Catalog"}], name="x", cache_dir=tmp_path)
    with pytest.raises(BuildError, match="no items"):
        cogdex.build_from_items([], name="x", cache_dir=tmp_path)


def test_the_modifier_reaches_every_item(
    stac_api, stac_files, http_server_no_range, scenes, tmp_path
):
    """A modifier that moves hrefs to a second server of the same files (as signing rewrites
    them): the moved hrefs are the ones indexed, and their headers were read from there."""
    pages: list[int] = []

    def moved(page: dict[str, Any]) -> None:
        pages.append(len(page["features"]))
        for item in page["features"]:
            for asset in item["assets"].values():
                asset["href"] = asset["href"].replace(stac_files.base_url, http_server_no_range.url)

    common: dict[str, Any] = {"bands": ["B04"], "cache_dir": tmp_path}
    plain = cogdex.build_from_stac(stac_api.url, COLLECTION, name="p", **common)
    coll = cogdex.build_from_stac(stac_api.url, COLLECTION, name="m", modifier=moved, **common)
    assert sum(pages) == len(scenes.scenes) == len(coll)
    hrefs = [href for _, assets, _ in _content(coll) for href in assets.values()]
    assert all(h.startswith(http_server_no_range.url + "/") for h in hrefs)
    assert [h for _, _, h in _content(coll)] == [h for _, _, h in _content(plain)]
    static = cogdex.build_from_stac(stac_files.items_json, name="st", modifier=_ids, **common)
    assert sorted(static.ids) == sorted(f"{s.id}-seen" for s in scenes.scenes)


def _ids(item: dict[str, Any]) -> None:
    item["id"] += "-seen"


def test_headers_and_sortby_reach_pystac_client(stac_api, scenes, tmp_path, monkeypatch):
    opened: list[Any] = []
    make = stac_api_module._stac_io
    monkeypatch.setattr(
        stac_api_module, "_stac_io", lambda h, *rest: opened.append(make(h, *rest)) or opened[-1]
    )
    coll = cogdex.build_from_stac(
        stac_api.url,
        COLLECTION,
        name="h",
        bands=["B04"],
        headers={"X-Cogdex-Test": "yes"},
        sortby="-datetime",
        max_items=2,
        cache_dir=tmp_path,
    )
    assert opened[0].session.headers["X-Cogdex-Test"] == "yes"
    latest = sorted(scenes.scenes, key=lambda s: s.datetime)[-2:]
    assert sorted(coll.ids) == sorted(s.id for s in latest)
    assert coll.source["search"]["sortby"] == "-datetime"
    with pytest.raises(BuildError, match="apply to STAC APIs"):
        cogdex.build_from_stac(
            stac_api.url + "/items.json", name="x", sortby="id", cache_dir=tmp_path
        )


def test_relative_hrefs_with_no_base_are_refused_not_read_from_the_working_directory(
    stac_files, scenes, tmp_path, monkeypatch
):
    """An item dict with relative hrefs and no 'self' link: the working directory is no base
    (another process, or another folder, reads other files), even when it holds such files."""
    item = copy.deepcopy(stac_files.items[0])
    item["links"] = []
    for asset in item["assets"].values():
        asset["href"] = asset["href"].rsplit("/", 1)[1]  # "B04.tif"
    monkeypatch.chdir(scenes.scenes[1].files["B04"].parent)  # another scene's B04.tif
    with pytest.raises(BuildError, match=r"'B04\.tif' is a relative path"):
        cogdex.build_from_items([item], name="rel", bands=BANDS, cache_dir=tmp_path)


def test_local_paths_with_url_characters_in_their_names_build_and_keep_their_names(
    stac_files, scenes, tmp_path
):
    """'?', '#', '%' and spaces in a path are part of a file's name, not a query string,
    a fragment or an escape."""
    item = copy.deepcopy(stac_files.items[0])
    source = next(s for s in scenes.scenes if s.id == item["id"]).files["B04"]
    odd = tmp_path / "a b?c#d%41é.tif"
    odd.write_bytes(source.read_bytes())
    item["assets"] = {"red": {**item["assets"]["red"], "href": str(odd)}}
    coll = cogdex.build_from_items([item], name="odd", bands=["B04"], cache_dir=tmp_path)
    assert coll.skipped == [] and coll.band_source("B04").hrefs == [str(odd)]
    direct = cogdex.build_from_items(
        [{**item, "assets": {"red": {**item["assets"]["red"], "href": str(source)}}}],
        name="direct",
        bands=["B04"],
        cache_dir=tmp_path,
    )
    assert coll.header(item["id"], "B04") == direct.header(item["id"], "B04")


def test_two_different_items_with_one_id_are_refused_and_a_repeated_item_is_indexed_once(
    stac_files, tmp_path
):
    """Ids are unique only within a STAC collection: keeping either of two items that share
    one would silently drop the other's scene."""
    first, other = (copy.deepcopy(i) for i in stac_files.items[:2])
    other["id"], other["collection"] = first["id"], "another-collection"
    with pytest.raises(BuildError, match=rf"two different items have the id '{first['id']}'"):
        cogdex.build_from_items([first, other], name="clash", bands=BANDS, cache_dir=tmp_path)
    resigned = copy.deepcopy(first)  # the same item from an overlapping page, signed again
    for asset in resigned["assets"].values():
        asset["href"] += "?sig=2"
    coll = cogdex.build_from_items([first, resigned], name="once", bands=BANDS, cache_dir=tmp_path)
    assert coll.ids == [first["id"]]
    assert [s["reason"] for s in coll.skipped] == ["duplicate id"]
