"""Builds against the real servers: STAC API, static STAC over HTTP and disk, S3; the cache,
request counts, failures per asset, CRS keys, and no signature or secret in any file."""

from __future__ import annotations

import copy
import http.server
import json
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pyarrow.parquet as pq
import pytest
import shapely
import shapely.affinity
import shapely.geometry

import cogdex
from cogdex.errors import BuildError
from cogdex.index import schema as S
from cogdex.index.build import clean_href
from cogdex.index.cache import collection_path
from cogdex.io import fetch
from tests.servers.scenes import AOI_LONLAT, COLLECTION

BANDS = ["B02", "B04", "B08"]


def _write_items(path: Path, items: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    return path


def test_stac_api_build_one_request_per_cog_then_cached(stac_api, stac_files, scenes, tmp_path):
    with fetch.recording() as rec:
        coll = cogdex.build_from_stac(
            stac_api.url, COLLECTION, name="api", bands=BANDS, cache_dir=tmp_path
        )
    n = len(scenes.scenes)
    assert len(coll) == n and coll.bands == BANDS
    assert coll.band_map["B04"] == S.BandRef("red", 0)  # eo:bands name -> asset key
    assert rec.requests <= 2 * n * len(BANDS)  # the header fetch: at most 2 per COG
    assert coll.skipped == []
    assert coll.epsg_codes == [32643, 32644]
    assert sorted(coll.ids) == sorted(s.id for s in scenes.scenes)

    with fetch.recording() as rec:
        again = cogdex.build_from_stac(
            stac_api.url, COLLECTION, name="api", bands=BANDS, cache_dir=tmp_path
        )
        assert len(again) == n
    assert rec.requests == 0 and again.location == coll.location

    # headers in the index equal those the TIFF engine parses from the files
    from cogdex.tiff.header import parse_header

    scene = scenes.scenes[0]
    expected = parse_header(scene.files["B04"].read_bytes())
    assert again.header(scene.id, "B04") == expected


class _LandingOnly(http.server.BaseHTTPRequestHandler):
    """A landing page whose `search` link points at the real API elsewhere; no `/search`."""

    search_href = ""
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path.rstrip("/") != "":
            self.send_error(404)
            return
        root = f"http://127.0.0.1:{self.server.server_address[1]}/"
        body = json.dumps({
            "type": "Catalog", "stac_version": "1.0.0", "id": "elsewhere", "description": "x",
            "conformsTo": [
                "https://api.stacspec.org/v1.0.0/core",
                "https://api.stacspec.org/v1.0.0/item-search",
            ],
            "links": [
                {"rel": "self", "href": root, "type": "application/json"},
                {"rel": "root", "href": root, "type": "application/json"},
                {"rel": "search", "href": self.search_href, "type": "application/geo+json",
                 "method": "POST"},
            ],
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_search_endpoint_found_from_the_landing_page_when_not_at_search(stac_api, scenes, tmp_path):
    """pystac-client opens the landing page and searches where its search link leads (here
    the real STAC API), not at `<api>/search`."""
    handler = type("H", (_LandingOnly,), {"search_href": stac_api.url + "/search", "paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        coll = cogdex.build_from_stac(url, COLLECTION, name="elsewhere", bands=BANDS,
                                      cache_dir=tmp_path)  # fmt: skip
    finally:
        server.shutdown()
    assert sorted(coll.ids) == sorted(s.id for s in scenes.scenes)
    assert "/" in handler.paths  # the landing page, then the search where its link leads
    assert set(handler.paths) <= {"/", "/search"}  # at most the early search, ignored


def test_a_different_query_rebuilds_with_force(stac_api, scenes, tmp_path):
    kwargs = {"name": "q", "bands": ["B04"], "cache_dir": tmp_path}
    full = cogdex.build_from_stac(stac_api.url, COLLECTION, **kwargs)
    with pytest.raises(BuildError, match="built with other arguments"):
        cogdex.build_from_stac(
            stac_api.url, COLLECTION, query={"eo:cloud_cover": {"lt": 20}}, **kwargs
        )
    kwargs["force"] = True
    clear = cogdex.build_from_stac(
        stac_api.url, COLLECTION, query={"eo:cloud_cover": {"lt": 20}}, **kwargs
    )
    expected = sorted(s.id for s in scenes.scenes if s.cloud_cover < 20)
    assert sorted(clear.ids) == expected and len(full) == len(scenes.scenes)
    dated = cogdex.build_from_stac(
        stac_api.url, COLLECTION, date_range=("2024-01-01", "2024-01-01"), **kwargs
    )
    assert sorted(dated.ids) == sorted(
        s.id for s in scenes.scenes if s.datetime.date().isoformat() == "2024-01-01"
    )
    # the cached file now answers only the last call
    kwargs["force"] = False
    with fetch.recording() as rec:
        cogdex.build_from_stac(
            stac_api.url, COLLECTION, date_range=("2024-01-01", "2024-01-01"), **kwargs
        )
    assert rec.requests == 0


# Scenes alternate tiles 43QHV/44QKE, platforms 2A/2B every 5 days from 2024-01-01; every
# third scene lacks its upper-left corner (see tests/servers/scenes.py).
_UPPER_LEFT_OF_43QHV = {
    "type": "Polygon",
    "coordinates": [[[77.933, 20.04], [77.936, 20.04], [77.936, 20.045], [77.933, 20.04]]],
}
CQL2_FILTERS = {
    "json-lt": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
    "json-string": json.dumps({"op": ">=", "args": [{"property": "eo:cloud_cover"}, 20]}),
    "text-and": "eo:cloud_cover >= 10 AND platform = 'sentinel-2b'",
    "json-in-ids": {
        "op": "in",
        "args": [{"property": "id"}, ["S2A_43QHV_20240101_0_L2A", "S2B_44QKE_20240106_0_L2A"]],
    },
    "text-in-property": "\"grid:code\" IN ('MGRS-44QKE')",
    "text-timestamp": "datetime > TIMESTAMP('2024-01-06T00:00:00Z')",
    "json-t-intersects": {
        "op": "t_intersects",
        "args": [
            {"property": "datetime"},
            {"interval": ["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z"]},
        ],
    },
    "json-s-intersects": {
        "op": "s_intersects",
        "args": [{"property": "geometry"}, _UPPER_LEFT_OF_43QHV],
    },
    "text-not-or": "NOT (platform = 'sentinel-2a') OR eo:cloud_cover < 5",
    "text-like-between": "platform LIKE '%2b' AND eo:cloud_cover BETWEEN 5 AND 50",
}


@pytest.mark.parametrize("cql2", CQL2_FILTERS.values(), ids=CQL2_FILTERS.keys())
def test_cql2_filter_on_static_files_selects_what_the_api_does(
    cql2, stac_api, stac_files, scenes, tmp_path
):
    kwargs = {"bands": ["B04"], "cache_dir": tmp_path, "filter": cql2}
    api = cogdex.build_from_stac(stac_api.url, COLLECTION, name="api", **kwargs)
    static = cogdex.build_from_stac(stac_files.items_json, name="static", **kwargs)
    assert sorted(static.ids) == sorted(api.ids)
    assert 0 < len(static) < len(scenes.scenes)  # the filter does select


def test_cql2_filter_selects_by_footprint_not_bbox(stac_files, scenes, tmp_path):
    coll = cogdex.build_from_stac(
        stac_files.items_json,
        name="corner",
        bands=["B04"],
        cache_dir=tmp_path,
        filter=CQL2_FILTERS["json-s-intersects"],
    )
    expected = [s.id for s in scenes.scenes if s.mgrs == "43QHV" and not s.nodata_corner]
    assert sorted(coll.ids) == sorted(expected)


def test_cql2_filter_leaves_out_items_it_cannot_evaluate(stac_files, scenes, tmp_path):
    """An item without the property is SQL's NULL: neither `< 20` nor `NOT (< 20)` holds."""
    items = copy.deepcopy(stac_files.items)
    del items[0]["properties"]["eo:cloud_cover"]
    path = _write_items(tmp_path / "items.json", items)
    kwargs = {"bands": ["B04"], "cache_dir": tmp_path}
    rest = [s for s in scenes.scenes if s.id != items[0]["id"]]
    clear = cogdex.build_from_stac(path, name="c", filter="eo:cloud_cover < 20", **kwargs)
    assert sorted(clear.ids) == sorted(s.id for s in rest if s.cloud_cover < 20)
    cloudy = cogdex.build_from_stac(path, name="c2", filter="NOT (eo:cloud_cover < 20)", **kwargs)
    assert sorted(cloudy.ids) == sorted(s.id for s in rest if s.cloud_cover >= 20)
    unknown = cogdex.build_from_stac(path, name="c3", filter="eo:cloud_cover IS NULL", **kwargs)
    assert unknown.ids == [items[0]["id"]]


@pytest.mark.parametrize(
    ("cql2", "problem"),
    [
        ("eo:cloud_cover <", r"filter 'eo:cloud_cover <' does not parse as cql2-text: at 1:17: "),
        ({"op": "="}, r"filter \{'op': '='\} does not parse as cql2-json: "),
        ('{"op": "<", "args": [', r"does not parse as cql2-json: EOF while parsing"),
        (
            {"op": "<", "args": [{"property": "eo:cloud_cover"}]},
            r"filter is not valid CQL2: .*\"args\":\[\{\"property\":\"eo:cloud_cover\"\}\]",
        ),
        ("eo:clod_cover < 20", r"cannot be evaluated on any item: 'eo:clod_cover < 20' is left"),
    ],
)
def test_bad_cql2_filter_fails_before_any_header_fetch(cql2, problem, stac_files, tmp_path):
    with fetch.recording() as rec, pytest.raises(BuildError, match=problem) as caught:
        cogdex.build_from_stac(stac_files.items_json, name="bad", filter=cql2, cache_dir=tmp_path)
    assert rec.requests == 0 and "\n" not in str(caught.value)
    assert not collection_path("bad", tmp_path).exists()


def test_bad_cql2_filter_fails_before_an_api_search(stac_api, tmp_path):
    with pytest.raises(BuildError, match=r"filter 'cloud <' does not parse as cql2-text"):
        cogdex.build_from_stac(
            stac_api.url, COLLECTION, name="bad", filter="cloud <", cache_dir=tmp_path
        )


def test_a_different_cql2_filter_rebuilds_a_static_source(stac_files, scenes, tmp_path):
    kwargs = {"name": "f", "bands": ["B04"], "cache_dir": tmp_path}
    clear = cogdex.build_from_stac(stac_files.items_json, filter="eo:cloud_cover < 20", **kwargs)
    with fetch.recording() as rec:
        cached = cogdex.build_from_stac(
            stac_files.items_json, filter="eo:cloud_cover < 20", **kwargs
        )
    assert rec.requests == 0 and cached.ids == clear.ids
    with fetch.recording() as rec:
        cloudy = cogdex.build_from_stac(
            stac_files.items_json, filter="eo:cloud_cover >= 20", force=True, **kwargs
        )
    assert rec.requests > 0
    assert sorted(cloudy.ids) == sorted(s.id for s in scenes.scenes if s.cloud_cover >= 20)
    assert cloudy.metadata.cache_key != clear.metadata.cache_key


def test_band_map_checked_before_any_header_fetch(stac_api, tmp_path):
    with fetch.recording() as rec, pytest.raises(BuildError, match=r"band 'B99'.*offers:.*red"):
        cogdex.build_from_stac(
            stac_api.url, COLLECTION, name="bad", bands=["B99"], cache_dir=tmp_path
        )
    assert rec.requests == 0
    with pytest.raises(BuildError, match=r"sample 7 of asset 'stack'.*has 4 samples"):
        cogdex.build_from_stac(
            stac_api.url, COLLECTION, name="bad", bands={"x": ("stack", 7)}, cache_dir=tmp_path
        )


def test_multiband_asset_and_default_bands(stac_files, tmp_path):
    coll = cogdex.build_from_stac(
        stac_files.items_json, name="multi", bands=["stack:0", "stack:3"], cache_dir=tmp_path
    )
    source = coll.band_source("stack:3")
    assert source.band_index == 3 and set(source.samples_per_pixel) == {4}
    default = cogdex.build_from_stac(stac_files.items_json, name="all", cache_dir=tmp_path)
    assert default.bands == [
        "blue",
        "green",
        "red",
        "nir",
        "stack:0",
        "stack:1",
        "stack:2",
        "stack:3",
    ]


def test_static_item_collection_on_disk_with_relative_hrefs(stac_files, scenes, tmp_path):
    items = copy.deepcopy(stac_files.items)
    for item in items:
        for asset in item["assets"].values():
            asset["href"] = "../data/" + asset["href"].removeprefix(stac_files.base_url + "/")
    folder = tmp_path / "catalog"
    folder.mkdir()
    (tmp_path / "data").symlink_to(scenes.root)
    path = _write_items(folder / "items.json", items)
    coll = cogdex.build_from_stac(
        path, name="rel", bands=["B04"], cache_dir=tmp_path, bbox=(77.0, 19.0, 78.0, 21.0)
    )
    assert len(coll) == len(scenes.scenes)  # bbox touches both tiles
    href = coll.band_source("B04").hrefs[0]
    assert href.startswith("file://") and "/data/scenes/" in href
    clear = cogdex.build_from_stac(
        path,
        name="rel-clear",
        bands=["B04"],
        cache_dir=tmp_path,
        query={"eo:cloud_cover": {"lt": 20}},
    )
    assert sorted(clear.ids) == sorted(s.id for s in scenes.scenes if s.cloud_cover < 20)
    same = cogdex.build_from_stac(
        path, name="rel-cql2", bands=["B04"], cache_dir=tmp_path, filter="eo:cloud_cover < 20"
    )
    assert sorted(same.ids) == sorted(clear.ids)


def test_static_item_collection_over_http(stac_files, http_server, scenes, tmp_path):
    coll = cogdex.build_from_stac(
        f"{http_server.url}/items.json", name="http", bands=["B02"], cache_dir=tmp_path
    )
    assert len(coll) == len(scenes.scenes)


def test_failed_headers_are_skipped_with_reasons_or_fatal_when_strict(
    stac_files, http_server, tmp_path
):
    items = copy.deepcopy(stac_files.items)
    items[0]["assets"]["red"]["href"] = f"{http_server.url}/scenes/missing.tif"
    items[1]["assets"]["red"]["href"] = f"{http_server.url}/collection.json"
    del items[2]["assets"]["red"]
    path = _write_items(tmp_path / "items.json", items)
    coll = cogdex.build_from_stac(path, name="fail", bands=["B02", "B04"], cache_dir=tmp_path)
    assert len(coll) == len(items)  # records keep their other band
    reasons = {(s["id"], s["asset"]): s["reason"] for s in coll.skipped}
    assert "NotFoundError" in reasons[(items[0]["id"], "red")]
    assert "TIFF" in reasons[(items[1]["id"], "red")]
    assert reasons[(items[2]["id"], "red")] == "no such asset"
    assert len(coll.band_source("B04")) == len(items) - 3
    assert cogdex.load(coll.location).skipped == coll.skipped
    with pytest.raises(BuildError, match=r"strict build: 3 problems.*missing\.tif"):
        cogdex.build_from_stac(
            path, name="fail", bands=["B02", "B04"], cache_dir=tmp_path, strict=True, force=True
        )


def test_crs_from_every_projection_key_and_from_geokeys(stac_files, tmp_path):
    from pyproj import CRS

    items = copy.deepcopy(stac_files.items)[:4]
    wkt = CRS.from_epsg(items[0]["properties"]["proj:epsg"]).to_wkt()
    projjson = CRS.from_epsg(items[1]["properties"]["proj:epsg"]).to_json_dict()
    for item in items:
        for key in ("proj:epsg", "proj:code"):
            item["properties"].pop(key)
    items[0]["properties"]["proj:wkt2"] = wkt
    items[1]["properties"]["proj:projjson"] = projjson
    items[2]["properties"]["proj:epsg"] = 32644 if "43" in items[2]["id"] else 32643
    path = _write_items(tmp_path / "items.json", items)
    with pytest.warns(UserWarning, match=items[2]["id"]):
        coll = cogdex.build_from_stac(path, name="crs", bands=["B04"], cache_dir=tmp_path)
    by_id = dict(zip(coll.ids, coll.to_arrow().column("crs").to_pylist(), strict=True))
    epsg = dict(zip(coll.ids, coll.to_arrow().column("epsg").to_pylist(), strict=True))
    assert by_id[items[0]["id"]] == wkt and epsg[items[0]["id"]] is None
    assert json.loads(by_id[items[1]["id"]]) == projjson
    assert epsg[items[2]["id"]] != items[2]["properties"]["proj:epsg"]  # the file wins
    tile = 32643 if "43QHV" in items[3]["id"] else 32644
    assert epsg[items[3]["id"]] == tile and by_id[items[3]["id"]] == f"EPSG:{tile}"  # GeoKeys


def test_a_stac_crs_the_geokeys_contradict_warns_and_the_files_crs_is_read(stac_files, tmp_path):
    """An item whose `proj:code`/`proj:epsg` names another CRS than its COGs' GeoKeys: the
    pixels are in the file's CRS, so that one is indexed; the build warns and keeps a note."""
    items = copy.deepcopy(stac_files.items)[:2]
    swapped = {32643: 32644, 32644: 32643}
    for item in items:
        wrong = swapped[item["properties"]["proj:epsg"]]
        item["properties"].update({"proj:epsg": wrong, "proj:code": f"EPSG:{wrong}"})
    path = _write_items(tmp_path / "items.json", items)
    with pytest.warns(UserWarning, match="disagree") as caught:
        coll = cogdex.build_from_stac(path, name="swap", bands=["B04", "B08"], cache_dir=tmp_path)
    message = " ".join(str(w.message) for w in caught)
    for item in items:
        true = swapped[item["properties"]["proj:epsg"]]
        said = item["properties"]["proj:code"]
        assert f"item {item['id']!r} asset 'red': {said} (STAC) vs EPSG:{true}" in message
    table = coll.to_arrow()
    rows = {r["id"]: r for r in table.select(["id", "epsg", "georef_conflict"]).to_pylist()}
    for item in items:
        row = rows[item["id"]]
        assert row["epsg"] == swapped[item["properties"]["proj:epsg"]]
        assert "STAC" in row["georef_conflict"] and "GeoKeys" in row["georef_conflict"]
    lon, lat = AOI_LONLAT
    data = coll.get_numpy((lon - 0.004, lat - 0.004, lon + 0.004, lat + 0.004), "B04")
    assert data.shape[0] == 2 and (data > 0).all()  # pixels, not fill values
    assert cogdex.load(coll.location).to_arrow().column("georef_conflict").null_count == 0


def test_a_footprint_far_from_its_files_extent_warns_and_the_files_is_indexed(stac_files, tmp_path):
    """An item geometry that misses its COG (here: moved 5 degrees east) would make reads
    of the place the pixels cover skip the record."""
    items = copy.deepcopy(stac_files.items)[:3]
    moved = items[0]
    moved["geometry"] = shapely.geometry.mapping(
        shapely.affinity.translate(shapely.geometry.shape(moved["geometry"]), xoff=5)
    )
    moved["bbox"] = [v + 5 * (k % 2 == 0) for k, v in enumerate(moved["bbox"])]
    path = _write_items(tmp_path / "items.json", items)
    with pytest.warns(UserWarning, match=f"item {moved['id']!r}: the item's footprint"):
        coll = cogdex.build_from_stac(path, name="moved", bands=["B04"], cache_dir=tmp_path)
    notes = coll.to_arrow().select(["id", "georef_conflict"]).to_pydict()
    notes = dict(zip(notes["id"], notes["georef_conflict"], strict=True))
    assert "nowhere near" in notes.pop(moved["id"]) and set(notes.values()) == {None}
    lon, lat = AOI_LONLAT
    hits = coll.get_numpy((lon - 0.004, lat - 0.004, lon + 0.004, lat + 0.004), "B04")
    assert hits.shape[0] == 3 and (hits > 0).all()


def test_s3_build_with_rewrites_keeps_no_secret(stac_files, s3_server, tmp_path):
    rewrites = {stac_files.base_url + "/": f"s3://{s3_server.bucket}/"}
    with fetch.recording() as rec:
        coll = cogdex.build_from_stac(
            stac_files.items_json,
            name="s3",
            bands=["B04", "B08"],
            href_rewrites=rewrites,
            store_options=s3_server.options,
            cache_dir=tmp_path,
        )
    assert coll.skipped == [] and rec.requests <= 2 * 2 * len(coll)
    assert coll.band_source("B04").hrefs[0].startswith(f"s3://{s3_server.bucket}/scenes/")
    assert coll.metadata.store_options == {"endpoint": s3_server.endpoint, "region": "us-east-1"}
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*.parquet"))
    assert raw and s3_server.options["secret_access_key"].encode() not in raw
    assert s3_server.options["access_key_id"].encode() not in raw


def test_signed_hrefs_lose_their_signature(stac_files, tmp_path):
    sas = "?sv=2021-06-08&se=2030-01-01&sp=r&sig=SECRETSIGNATURE%3D"
    items = copy.deepcopy(stac_files.items)[:2]
    for item in items:
        for asset in item["assets"].values():
            asset["href"] += sas
    path = _write_items(tmp_path / "items.json", items)
    coll = cogdex.build_from_stac(path, name="signed", bands=["B04"], cache_dir=tmp_path)
    assert coll.skipped == [] and "?" not in coll.band_source("B04").hrefs[0]
    for file in tmp_path.rglob("*.parquet"):
        assert b"SECRETSIGNATURE" not in file.read_bytes()
        assert "SECRETSIGNATURE" not in str(pq.read_metadata(file).metadata)
    assert clean_href("https://h/a.tif?X-Amz-Signature=abc&X-Amz-Credential=k") == "https://h/a.tif"
    with pytest.raises(BuildError, match="query string"):
        clean_href("https://h/a.tif?version=3")
    assert clean_href("https://h/a.tif#part") == "https://h/a.tif"
    with pytest.raises(BuildError, match="store_options"):
        clean_href("https://user:pw@h/a.tif")


def test_catalog_build_needs_the_cloud_extra(tmp_path):
    from cogdex import plugins

    azure = plugins.plugin_manager().get_plugin("azure")
    plugins.unregister(azure)  # as if cogdex[azure] were not installed
    try:
        with pytest.raises(cogdex.MissingPluginError, match=r'pip install "cogdex\[azure\]"'):
            cogdex.build("pc/sentinel-2-l2a", name="pc", bbox=(0, 0, 1, 1), cache_dir=tmp_path)
    finally:
        plugins.register(azure, name="azure")
    with pytest.raises(BuildError, match=r"has no band\(s\) \['B99'\]"):
        cogdex.build("earthsearch/sentinel-2-l2a", name="es", bands=["B99"], cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {}, "{home}/.cache/cogdex"),
        ("linux", {"XDG_CACHE_HOME": "/x/cache"}, "/x/cache/cogdex"),
        ("linux", {"XDG_CACHE_HOME": "  "}, "{home}/.cache/cogdex"),  # blank: as unset
        ("darwin", {"XDG_CACHE_HOME": "/x/cache"}, "{home}/Library/Caches/cogdex"),
        ("win32", {"LOCALAPPDATA": "/x/local"}, "/x/local/cogdex/Cache"),
        ("linux", {"COGDEX_CACHE_DIR": "/x/mine", "XDG_CACHE_HOME": "/x/cache"}, "/x/mine"),
    ],
)
def test_default_cache_folder_follows_each_platforms_convention(
    platform: str, env: dict[str, str], expected: str, monkeypatch, tmp_path
) -> None:
    from cogdex.cachedir import cache_root

    for name in ("COGDEX_CACHE_DIR", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", platform)
    assert cache_root() == Path(expected.format(home=tmp_path))
    assert cache_root(tmp_path / "given") == tmp_path / "given"


def test_truncated_cogs_are_skipped_with_the_reason_or_fatal_when_strict(
    stac_files, http_server, scenes, tmp_path
):
    """A COG cut short (an interrupted upload) has a whole header whose tiles run past the
    end of the object: the build says so instead of indexing what no read can use."""
    data = scenes.scenes[0].files["B04"].read_bytes()
    folder = scenes.root / "truncated" / tmp_path.name
    folder.mkdir(parents=True)
    (folder / "B04.tif").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "B04.tif").write_bytes(data[: len(data) // 2])
    items = copy.deepcopy(stac_files.items)[:3]
    items[0]["assets"]["red"]["href"] = f"{http_server.url}/truncated/{tmp_path.name}/B04.tif"
    items[1]["assets"]["red"]["href"] = str(tmp_path / "B04.tif")
    path = _write_items(tmp_path / "items.json", items)
    coll = cogdex.build_from_stac(path, name="cut", bands=["B02", "B04"], cache_dir=tmp_path)
    reasons = {(s["id"], s["asset"]): s["reason"] for s in coll.skipped}
    assert set(reasons) == {(items[0]["id"], "red"), (items[1]["id"], "red")}
    for reason in reasons.values():
        assert reason.startswith("TruncatedTIFF") and "past the end" in reason
    assert len(coll.band_source("B04")) == 1 and len(coll.band_source("B02")) == 3
    with pytest.raises(BuildError, match=r"strict build: 4 problems: .*TruncatedTIFF"):
        cogdex.build_from_stac(
            path, name="cut", bands=["B04"], cache_dir=tmp_path, strict=True, force=True
        )


def _across_antimeridian(folder: Path) -> Path:
    """A 25.6 km square COG in UTM 60N centred on 180E, 60N."""
    import numpy as np
    from pyproj import Transformer

    from cogdex.testing import write_cog

    x, y = Transformer.from_crs(4326, 32660, always_xy=True).transform(180.0, 60.0)
    transform = (100, 0, x - 12_800, 0, -100, y + 12_800)
    return write_cog(folder / "across.tif", np.ones((256, 256), np.uint16), 32660, transform)


EAST_OF_180 = shapely.box(179.9, 59.95, 179.99, 60.05)
WEST_OF_180 = shapely.box(-179.99, 59.95, -179.9, 60.05)


def test_a_file_across_the_antimeridian_gets_a_footprint_on_both_sides_of_it(tmp_path):
    """A table row has no geometry: the footprint comes from the file, whose lon/lat ring
    jumps from +180 to -180. Taken as it comes, it is a band around the rest of the globe:
    an area at 0E found the file, one just west of 180 missed it."""
    import pyarrow as pa

    path = _across_antimeridian(tmp_path)
    table = pa.table({"id": ["across"], "datetime": ["2024-01-01T00:00:00Z"], "href": [str(path)]})
    pq.write_table(table, tmp_path / "t.parquet")
    coll = cogdex.build_from_table(tmp_path / "t.parquet", name="am", cache_dir=tmp_path)
    footprint = shapely.from_wkb(coll.to_arrow()["geometry"][0].as_py())
    assert footprint.is_valid and footprint.area < 0.2  # 25.6 km square at 60N, in degrees
    assert coll.subset(geometries=EAST_OF_180).ids == ["across"]
    assert coll.subset(geometries=WEST_OF_180).ids == ["across"]
    assert coll.subset(geometries=shapely.box(0, 59.95, 0.1, 60.05)).ids == []


def test_a_static_items_bbox_across_the_antimeridian_is_found_on_both_sides(tmp_path):
    """RFC 7946 writes such a bbox with xmin > xmax; read as a plain box it met no bbox."""
    path = _across_antimeridian(tmp_path)
    east = shapely.box(179.8, 59.88, 180, 60.12)
    west = shapely.box(-180, 59.88, -179.8, 60.12)
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "across",
        "bbox": [179.8, 59.88, -179.8, 60.12],
        "geometry": shapely.geometry.mapping(shapely.MultiPolygon([east, west])),
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {"data": {"href": str(path), "type": "image/tiff; application=geotiff"}},
        "links": [],
    }
    items = _write_items(tmp_path / "items.json", [item])
    for side in (EAST_OF_180, WEST_OF_180):
        coll = cogdex.build_from_stac(
            items, name="am", bbox=side.bounds, cache=False, progress=False
        )
        assert coll.ids == ["across"]


def test_a_split_footprint_without_a_bbox_is_found_on_its_sides_only(tmp_path):
    """An item or table row without a bbox is searched by its geometry's bounds: those of
    a footprint split at the antimeridian are -180..180, so a bbox over Europe found it."""
    import numpy as np
    import pyarrow as pa

    from cogdex.testing import write_cog

    across = _across_antimeridian(tmp_path)
    europe = write_cog(tmp_path / "eu.tif", np.ones((64, 64), np.uint16), 4326,
                       (0.1, 0, 6.0, 0, -0.1, 14.0))  # fmt: skip
    split = shapely.MultiPolygon(
        [shapely.box(179.8, 59.88, 180, 60.12), shapely.box(-180, 59.88, -179.8, 60.12)]
    )
    places = {"across": (split, across), "europe": (shapely.box(6, 7.6, 12.4, 14), europe)}
    items = [
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": name,
            "geometry": shapely.geometry.mapping(shape),
            "properties": {"datetime": "2024-01-01T00:00:00Z"},
            "assets": {"data": {"href": str(path), "type": "image/tiff; application=geotiff"}},
            "links": [],
        }
        for name, (shape, path) in places.items()
    ]
    static = _write_items(tmp_path / "items.json", items)
    rows = pa.table({"id": list(places), "datetime": ["2024-01-01T00:00:00Z"] * 2,
                     "geometry": [shape.wkb for shape, _ in places.values()],
                     "href": [str(path) for _, path in places.values()]})  # fmt: skip
    for build in (
        lambda bbox: cogdex.build_from_stac(static, name="am", bbox=bbox, cache=False),
        lambda bbox: cogdex.build_from_table(rows, name="am", bbox=bbox, cache=False),
    ):
        assert build((5.0, 5.0, 15.0, 65.0)).ids == ["europe"]
        assert build(EAST_OF_180.bounds).ids == ["across"]
        assert build(WEST_OF_180.bounds).ids == ["across"]


@pytest.mark.parametrize(
    ("bands", "nir"), [(None, "nir"), (["B04", "B08"], "B08")], ids=["every-asset", "named"]
)
def test_a_band_the_first_item_lacks_is_indexed_for_the_items_that_have_it(
    stac_files, tmp_path, bands, nir
):
    """The band map came from the first item alone: without `bands` the others' nir asset
    was dropped from every record unannounced; with `bands` naming it the build was
    refused."""
    items = copy.deepcopy(stac_files.items)
    del items[0]["assets"]["nir"], items[0]["assets"]["stack"]  # every asset with B08
    coll = cogdex.build_from_items(items, name="gap", bands=bands, cache_dir=tmp_path)
    assert nir in coll.bands and len(coll) == len(items)
    assets = coll.to_arrow()["assets"].to_pylist()
    indexed = {i: a["nir"] is not None for i, a in zip(coll.ids, assets, strict=True)}
    assert indexed == {i["id"]: i is not items[0] for i in items}
    assert {(s["id"], s["reason"]) for s in coll.skipped} == {(items[0]["id"], "no such asset")}


def test_an_item_or_table_row_without_an_id_is_dropped_with_its_reason(
    stac_files, scenes, tmp_path
):
    """Its record was indexed under the id "None", which no item has."""
    import pyarrow as pa

    items = copy.deepcopy(stac_files.items[:3])
    items[0]["id"] = None
    coll = cogdex.build_from_items(items, name="ids", bands=["B04"], cache_dir=tmp_path)
    assert sorted(coll.ids) == sorted(i["id"] for i in items[1:])
    assert [s["reason"] for s in coll.skipped] == ["no id: dropped"]
    stack = [f"{stac_files.base_url}/{s.keys['stack']}" for s in scenes.scenes[:3]]
    table = pa.table({"id": [None, "b", "c"], "datetime": [2024] * 3, "href": stack})
    pq.write_table(table, tmp_path / "t.parquet")
    rows = cogdex.build_from_table(tmp_path / "t.parquet", name="rows", cache_dir=tmp_path)
    assert sorted(rows.ids) == ["b", "c"]
    assert [s["reason"] for s in rows.skipped] == ["no id: dropped"]


def test_a_header_that_failed_after_retries_is_fetched_again_by_the_same_call(
    stac_files, scenes, fault_server, fast_uncached_reads, tmp_path
):
    """A build cached its collection whatever it skipped: an outage of one file during the
    build kept its record's asset out of every later call, without a word."""
    path = "/" + scenes.scenes[0].keys["B04"]
    fault_server.inject(path, ["503"] * 20)  # past every retry
    kwargs = {
        "name": "outage",
        "bands": ["B04"],
        "href_rewrites": {stac_files.base_url: fault_server.url},
        "cache_dir": tmp_path,
    }
    with pytest.warns(UserWarning, match=r"1 header\(s\) could not be fetched after retries"):
        first = cogdex.build_from_stac(stac_files.items_json, **kwargs)
    assert [s["reason"].split(":")[0] for s in first.skipped] == ["FetchError", "no readable asset"]
    assert scenes.scenes[0].id not in first.ids
    fault_server.reset()  # the outage is over
    again = cogdex.build_from_stac(stac_files.items_json, **kwargs)
    assert again.skipped == [] and scenes.scenes[0].id in again.ids
    assert any(r.path == path for r in fault_server.requests)
    with fetch.recording() as rec:  # complete now: the cache serves it
        cached = cogdex.build_from_stac(stac_files.items_json, **kwargs)
    assert rec.requests == 0 and cached.metadata == again.metadata
