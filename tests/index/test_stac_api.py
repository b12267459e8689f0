"""STAC API Item Search (cogdex.index.stac_api, pystac-client underneath) against the real
STAC API and against a small server speaking the other forms the spec allows (merged POST
bodies, GET paging, GET search links, gzip, redirects, error documents, 503s to retry)."""

from __future__ import annotations

import gzip
import json
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
from pystac_client.warnings import DoesNotConformTo, NoConformsTo

import cogdex
from cogdex.errors import BuildError
from cogdex.index import stac_api as client
from tests.servers.background import BackgroundServer
from tests.servers.scenes import SceneSet

COLLECTION = "sentinel-2-l2a"
CLASSES = ("item-search", "item-search#filter")


def test_pages_of_the_real_api_are_followed_to_the_end(stac_api, scenes: SceneSet, monkeypatch):
    monkeypatch.setattr(client, "PAGE_SIZE", 2)  # 12 scenes: 6 POST pages
    items = client.search(stac_api.url, {"collections": [COLLECTION]})
    assert sorted(i["id"] for i in items) == sorted(s.id for s in scenes.scenes)
    first = client.search(stac_api.url, {"collections": [COLLECTION]}, max_items=3)
    assert [i["id"] for i in first] == [i["id"] for i in items[:3]]


class _Spec(BaseHTTPRequestHandler):
    """An Item Search API over 5 made-up items, 2 per page. Landing pages (`/`, `/broken`,
    `/short`, `/moved`, `/flaky`) link their `<page>/search`, which takes POST; `/search`
    pages with a merged POST body (`{"page": n}`, merge true); `/elsewhere` is a landing
    page linking `/search`; `/get-only` is a landing page whose search link is GET-only, to
    `/get-search`, which pages with GET links; `/old` has no conformance classes;
    `/broken/search` answers 400 with a STAC error document; `/moved/search` redirects
    (308) to `/search`; `/short/search` breaks off its answer; `/flaky/search` answers 503
    twice, then as `/search`; `/page` is HTML. Answers are gzipped when the client accepts
    it."""

    requests: ClassVar[list[tuple[str, str, dict[str, Any] | None]]] = []
    agents: ClassVar[list[str]] = []
    keys: ClassVar[list[str]] = []
    ITEMS: ClassVar[list[dict[str, Any]]] = [
        {"type": "Feature", "id": f"item-{n}", "properties": {}, "assets": {}, "links": []}
        for n in range(5)
    ]

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        raw = json.dumps(doc).encode()
        zipped = "gzip" in self.headers.get("Accept-Encoding", "")
        if zipped:
            raw = gzip.compress(raw)
        self.send_response(status)
        self.send_header("Content-Type", "application/geo+json")
        if zipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _page(self, page: int, next_link: dict[str, Any]) -> dict[str, Any]:
        features = self.ITEMS[2 * page : 2 * page + 2]
        links = [next_link] if 2 * page + 2 < len(self.ITEMS) else []
        return {"type": "FeatureCollection", "features": features, "links": links}

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body))
        self.agents.append(self.headers.get("User-Agent", ""))
        self.keys.append(self.headers.get("X-Api-Key", ""))
        if self.path == "/broken/search":
            self._send(400, {"code": "BadRequest", "description": "limit must be below 100"})
            return
        if self.path == "/short/search":  # a body cut short: the connection dies mid-answer
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"type": "FeatureCollection", "feat')
            self.close_connection = True
            return
        if self.path == "/moved/search":  # permanent redirect that keeps the method and body
            self.send_response(308)
            self.send_header("Location", "/search")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        flaky = [p for m, p, _ in self.requests if p == "/flaky/search"]
        if self.path == "/flaky/search" and len(flaky) <= 2:
            self._send(503, {"code": "Unavailable", "description": "try later"})
            return
        if self.path == "/flaky/search":
            self.path = "/search"
        if self.path != "/search" or body.get("collections") != [COLLECTION]:
            self._send(404, {"code": "NotFound", "description": self.path})
            return
        page = body.get("page", 0)
        link = {"rel": "next", "href": self._root() + "/search", "method": "POST",
                "body": {"page": page + 1}, "merge": True}  # fmt: skip
        self._send(200, self._page(page, link))

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.requests.append(("GET", url.path, query))
        self.keys.append(self.headers.get("X-Api-Key", ""))
        if url.path == "/get-only":
            self._send(200, self._landing(self._root() + "/get-search", "GET"))
        elif url.path == "/elsewhere":  # Item Search somewhere other than <landing>/search
            self._send(200, self._landing(self._root() + "/search", "POST"))
        elif url.path == "/page":  # a web page, not an API
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"<html>")
        elif url.path.rstrip("/") in ("", "/broken", "/short", "/moved", "/flaky", "/old"):
            landing = self._landing(self._root() + url.path.rstrip("/") + "/search", "POST")
            if url.path == "/old":
                del landing["conformsTo"]
            self._send(200, landing)
        elif url.path == "/get-search" and query.get("collections") == COLLECTION:
            page = int(query.get("page", 0))
            nxt = urllib.parse.urlencode({**query, "page": page + 1})
            link = {"rel": "next", "href": f"{self._root()}/get-search?{nxt}"}
            self._send(200, self._page(page, link))
        else:
            self._send(404, {"code": "NotFound", "description": url.path})

    def _landing(self, search: str, method: str) -> dict[str, Any]:
        link = {"rel": "search", "href": search, "method": method, "type": "application/geo+json"}
        here = self._root() + urllib.parse.urlsplit(self.path).path  # root and self, as APIs do
        links = [link, {"rel": "root", "href": here}, {"rel": "self", "href": here}]
        classes = [f"https://api.stacspec.org/v1.0.0/{c}" for c in CLASSES]
        return {
            "type": "Catalog", "id": "spec", "description": "spec", "stac_version": "1.0.0",
            "conformsTo": classes, "links": links,
        }  # fmt: skip

    def _root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def spec_api():
    handler = type("Handler", (_Spec,), {"requests": [], "agents": [], "keys": []})
    server = BackgroundServer(("127.0.0.1", 0), handler).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield url, handler.requests, handler.agents, handler.keys
    server.close()


def test_post_next_links_merge_their_body_into_the_search(spec_api):
    url, requests, agents, _ = spec_api
    items = client.search(url, {"collections": [COLLECTION], "bbox": [1, 2, 3, 4]})
    assert [i["id"] for i in items] == [f"item-{n}" for n in range(5)]
    bodies = [body for method, _, body in requests if method == "POST"]
    assert [b.get("page", 0) for b in bodies] == [0, 1, 2]
    assert [m for m, _, _ in requests].count("GET") == 1  # the landing page, read once
    assert set(agents) == {f"cogdex/{cogdex.__version__}"}  # not "python-requests/2.x"
    assert all(b["bbox"] == [1, 2, 3, 4] and b["limit"] == 250 for b in bodies)  # merged


def test_a_get_only_search_link_pages_with_get(spec_api):
    url, requests, _, _ = spec_api
    filter_ = {"op": "=", "args": [{"property": "platform"}, "sentinel-2b"]}
    body = {"collections": [COLLECTION], "bbox": [1, 2, 3, 4], "filter": filter_}
    items = client.search(f"{url}/get-only", body, max_items=4)
    assert [i["id"] for i in items] == [f"item-{n}" for n in range(4)]
    gets = [(path, query) for method, path, query in requests if method == "GET"]
    assert [path for path, _ in gets] == ["/get-only", "/get-search", "/get-search"]  # no POST
    first = gets[1][1]
    assert first["bbox"] == "1.0,2.0,3.0,4.0" and first["limit"] == "4"  # no more than max_items
    assert first["filter"] == "platform = 'sentinel-2b'" and first["filter-lang"] == "cql2-text"


def test_errors_name_the_api_and_say_why(spec_api, tmp_path):
    url, _, _, _ = spec_api
    with pytest.raises(BuildError, match=r"refused the search: .*400 limit must be below 100"):
        cogdex.build_from_stac(f"{url}/broken", COLLECTION, name="x", cache_dir=tmp_path)
    with pytest.raises(BuildError, match=r"did not answer: .*IncompleteRead"):
        cogdex.build_from_stac(f"{url}/short", COLLECTION, name="x", cache_dir=tmp_path)
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(BuildError, match=r"STAC API http://127\.0\.0\.1:9 did not answer"):
        cogdex.build_from_stac(closed, COLLECTION, name="x", cache_dir=tmp_path)
    old = pytest.raises(BuildError, match=r"/old is not a STAC API with Item Search")
    with old, pytest.warns(NoConformsTo):  # pystac-client's warning, then cogdex's error
        cogdex.build_from_stac(f"{url}/old", COLLECTION, name="x", cache_dir=tmp_path)
    with pytest.raises(BuildError, match=r"/page answered with something other than STAC"):
        cogdex.build_from_stac(f"{url}/page", COLLECTION, name="x", cache_dir=tmp_path)
    with pytest.raises(BuildError, match=r"refused the search: 404 /get-only/nothing"):
        cogdex.build_from_stac(f"{url}/get-only/nothing", COLLECTION, name="x", cache_dir=tmp_path)


def test_errors_never_show_the_api_key_in_its_url(spec_api, tmp_path):
    url, _, _, _ = spec_api
    with pytest.raises(BuildError, match="refused the search: 400") as info:
        cogdex.build_from_stac(f"{url}/broken?key=SECRET", COLLECTION, name="x", cache_dir=tmp_path)
    assert "SECRET" not in str(info.value)


def test_503_answers_are_retried_and_headers_go_with_every_request(spec_api):
    url, requests, _, _ = spec_api
    handler_keys = _Spec.keys  # the fixture's subclass records into its own list
    items = client.search(f"{url}/flaky", {"collections": [COLLECTION]}, headers={"X-Api-Key": "k"})
    assert len(items) == 5
    assert [p for _, p, _ in requests].count("/flaky/search") == 3  # two 503s, then the page
    del handler_keys


def test_a_redirected_search_keeps_its_method_and_body(spec_api):
    url, requests, _, _ = spec_api
    items = client.search(f"{url}/moved", {"collections": [COLLECTION]})
    assert len(items) == 5
    posts = [p for m, p, _ in requests if m == "POST"]
    assert posts[:2] == ["/moved/search", "/search"]


def test_the_search_is_sent_while_the_landing_page_is_read(spec_api):
    url, requests, _, _ = spec_api
    items = client.search(url, {"collections": [COLLECTION]})
    assert [i["id"] for i in items] == [f"item-{n}" for n in range(5)]
    assert sorted(p for _, p, _ in requests) == ["/", "/search", "/search", "/search"]


def test_a_search_link_elsewhere_is_followed_and_the_early_search_ignored(spec_api):
    url, requests, _, _ = spec_api
    items = client.search(f"{url}/elsewhere", {"collections": [COLLECTION]})
    assert [i["id"] for i in items] == [f"item-{n}" for n in range(5)]
    posts = [(p, b.get("page", 0)) for m, p, b in requests if m == "POST" and b is not None]
    assert ("/elsewhere/search", 0) in posts  # the early search, answered 404 and ignored
    assert [page for p, page in posts if p == "/search"] == [0, 1, 2]


def test_extensions_the_landing_page_does_not_declare_go_through_pystac_client(spec_api):
    """`query` is not among the spec API's classes: pystac-client's `Client` searches (and
    warns, as it does for any such API), reading the landing page once."""
    url, requests, _, _ = spec_api
    with pytest.warns(DoesNotConformTo, match="QUERY"):
        items = client.search(url, {"collections": [COLLECTION], "query": {"a": {"eq": 1}}})
    assert len(items) == 5
    assert [p for m, p, _ in requests if m == "GET"] == ["/"]


def test_arguments_pystac_client_refuses_are_a_search_error(spec_api):
    url, _, _, _ = spec_api
    with pytest.raises(client.SearchError, match=r"cannot search STAC API .*datetime"):
        client.search(url, {"collections": [COLLECTION], "datetime": "yesterday-ish"})


def test_the_landing_page_is_parsed_only_after_pystacs_extension_hooks_are_found(
    spec_api, monkeypatch
):
    """pystac's hooks are discovered on a thread while the landing page is on its way: the
    page waits for all of them, and a discovery that fails fails the search."""
    import threading
    import time

    import pystac

    hooks = pystac.EXTENSION_HOOKS
    discover = type(hooks)._discover

    def slow_discover(self) -> None:
        if threading.current_thread().name == "cogdex-pystac":
            time.sleep(0.3)  # longer than the landing page takes
        discover(self)

    monkeypatch.setattr(hooks, "_discovered", False)
    monkeypatch.setattr(client, "_discovery", None)
    monkeypatch.setattr(type(hooks), "_discover", slow_discover)
    url, _, _, _ = spec_api
    t0 = time.monotonic()
    assert len(client.search(url, {"collections": [COLLECTION]})) == 5
    assert time.monotonic() - t0 > 0.3  # the page waited for the discovery

    def broken(self) -> None:
        raise RuntimeError("a broken pystac.extensions entry point")

    monkeypatch.setattr(hooks, "_discovered", False)
    monkeypatch.setattr(client, "_discovery", None)
    monkeypatch.setattr(type(hooks), "_discover", broken)
    with pytest.raises(RuntimeError, match="a broken pystac"):
        client.search(url, {"collections": [COLLECTION]})
