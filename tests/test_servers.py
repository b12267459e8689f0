"""Smoke tests of the test servers: each one serves the scene files byte for byte, through
obstore and through cogdex.io, and the STAC API finds the expected items."""

from __future__ import annotations

import datetime as dt
import http.client
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import obstore
import pytest
import rasterio
from obstore.exceptions import NotSupportedError, PermissionDeniedError
from obstore.store import AzureStore, HTTPStore, S3Store
from pyproj import Transformer
from pystac_client import Client

from cogdex.io import fetch, runtime
from cogdex.io.stores import stores
from cogdex.testing import RangeServer
from tests.servers.azurite import AzureEmulator
from tests.servers.faults import FaultServer
from tests.servers.nginx import Nginx
from tests.servers.process import ServerProcess
from tests.servers.s3 import S3Emulator
from tests.servers.scenes import AOI_LONLAT, COLLECTION, Scene, SceneSet
from tests.servers.stac_api import StacApi

_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(
    url: str, range_header: str | None = None, timeout: float = 10, **headers: str
) -> tuple[int, dict, bytes]:
    if range_header:
        headers["Range"] = range_header
    try:
        with _direct.open(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture(scope="module")
def scene(scenes: SceneSet) -> Scene:
    return scenes.scenes[2]  # one with a nodata corner


@pytest.fixture(scope="module")
def blob(scene: Scene) -> tuple[str, bytes]:
    """(key, file content) of one single-band COG."""
    return scene.keys["B04"], scene.files["B04"].read_bytes()


def _ranges(size: int) -> list[tuple[int, int]]:
    return [(0, 16_384), (size // 2, size // 2 + 70_000), (size - 1000, size)]


# -- the data ------------------------------------------------------------------------------


def test_scenes_are_sentinel2_like_cogs_matching_their_metadata(scenes: SceneSet):
    assert 6 <= len(scenes.scenes) <= 12
    assert {s.epsg for s in scenes.scenes} == {32643, 32644}
    assert len({s.id for s in scenes.scenes}) == len(scenes.scenes)
    for s in scenes.scenes:
        x, y = Transformer.from_crs(4326, s.epsg, always_xy=True).transform(*AOI_LONLAT)
        left, bottom, right, top = s.bounds
        assert left < x < right and bottom < y < top  # every scene covers the AOI point
        for name, path in s.files.items():
            with rasterio.open(path) as ds:
                assert ds.crs.to_epsg() == s.epsg
                assert ds.transform == s.transform
                assert (ds.width, ds.height) == (s.size, s.size)
                assert ds.count == (4 if name == "stack" else 1)
                assert set(ds.dtypes) == {"uint16"} and ds.nodata == 0
                assert ds.block_shapes[0] == (scenes.blocksize, scenes.blocksize)
                assert ds.compression.name == "deflate"
                assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
                assert ds.overviews(1)
                corner = ds.read(1, window=((0, 8), (0, 8)))
                assert bool((corner == 0).all()) is s.nodata_corner
    assert any(s.nodata_corner for s in scenes.scenes)
    assert any(not s.nodata_corner for s in scenes.scenes)
    assert all((s.nodata_pct > 0) is s.nodata_corner for s in scenes.scenes)
    first = scenes.scenes[0]
    with rasterio.open(first.files["stack"]) as stack:
        for band, name in enumerate(("B02", "B03", "B04", "B08"), start=1):
            with rasterio.open(first.files[name]) as single:
                assert np.array_equal(stack.read(band), single.read(1))


def test_a_server_that_dies_at_start_fails_with_its_log(tmp_path: Path):
    crash = "print('cannot bind'); raise SystemExit(3)"
    server = ServerProcess("crashing", [sys.executable, "-c", crash], tmp_path)
    with pytest.raises(RuntimeError, match=r"(?s)crashing exited with code 3.*cannot bind"):
        server.wait_http("http://127.0.0.1:9/", timeout=30)


# -- HTTP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("server_fixture", ["http_server", "fault_server"])
def test_http_range_semantics(request: pytest.FixtureRequest, server_fixture: str, blob):
    """nginx and the Python server (the fallback when nginx is missing) answer alike."""
    server: Nginx | RangeServer = request.getfixturevalue(server_fixture)
    key, data = blob
    url = f"{server.url}/{key}"
    size = len(data)
    status, headers, body = _get(url, "bytes=1000-1999")
    assert (status, headers["Content-Range"], body) == (
        206,
        f"bytes 1000-1999/{size}",
        data[1000:2000],
    )
    assert _get(url, f"bytes={size - 10}-")[2] == data[-10:]
    assert _get(url, "bytes=-10")[2] == data[-10:]
    assert _get(url, f"bytes=0-{size + 5000}")[2] == data  # clipped to the end
    assert _get(url, f"bytes={size}-")[0] == 416
    status, headers, body = _get(url)
    assert (status, body) == (200, data)
    assert _get(f"{server.url}/scenes/missing.tif")[0] == 404
    # conditional GETs (If-None-Match, compared weakly): 304 with no body for the current
    # ETag, the file for any other
    etag = headers["ETag"]
    for named in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        assert _get(url, **{"If-None-Match": named})[::2] == (304, b"")
    assert _get(url, **{"If-None-Match": '"other"'})[::2] == (200, data)


def test_range_server_counts_bytes_before_the_client_has_them(tmp_path: Path):
    """A test reads `bytes_sent` as soon as its read returns. The server counted a chunk
    after writing it, so a client could have every byte while the server's thread waited
    for the GIL to count them (the flake of test_tile_aligned_chunks_fetch_each_tile_once
    on a loaded machine): with a thread spinning and GIL hand-offs every millisecond, 12 to
    48 in 200-300 of these reads saw a short count."""
    import threading

    (tmp_path / "f.bin").write_bytes(bytes(range(256)) * 4096)
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            pass

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    stale = 0
    try:
        with RangeServer(tmp_path) as server:
            for _ in range(200):
                server.clear_log()
                fetch.run_read(fetch.read_ranges(f"{server.url}/f.bin", [(0, 200_000)]))
                stale += server.bytes_sent != 200_000
    finally:
        done.set()
        sys.setswitchinterval(interval)
    assert stale == 0


def test_http_obstore_and_cogdex_read_206(http_server: Nginx | RangeServer, blob):
    key, data = blob
    store = HTTPStore.from_url(http_server.url, client_options={"allow_http": True})
    assert bytes(obstore.get_range(store, key, start=1000, end=2000)) == data[1000:2000]
    url = f"{http_server.url}/{key}"
    head, version = runtime.run(fetch.read_head(url, 16_384))
    size = version.size
    assert (head, size) == (data[:16_384], len(data))
    # both send ETag and Last-Modified, what tells a file rewritten in place apart
    assert version.etag and version.last_modified
    parts = runtime.run(fetch.read_ranges(url, _ranges(size)))
    assert [bytes(p) for p in parts] == [data[s:e] for s, e in _ranges(size)]


def test_http_200_only_server(http_server_no_range: RangeServer, blob, monkeypatch):
    """A server that ignores Range: obstore refuses the 200 answer to a range GET; cogdex
    asks again with Range, and on a second 200 reads the object whole, once."""
    key, data = blob
    # what this process learnt of the origin before (other tests read the same files through
    # it) would serve these reads without a request
    monkeypatch.setattr(fetch, "_whole", fetch._WholeObjects())
    status, headers, body = _get(f"{http_server_no_range.url}/{key}", "bytes=0-99")
    assert (status, body) == (200, data) and "Content-Range" not in headers
    store = HTTPStore.from_url(http_server_no_range.url, client_options={"allow_http": True})
    with pytest.raises(NotSupportedError, match="Range request not supported"):
        obstore.get_range(store, key, start=0, end=100)
    url = f"{http_server_no_range.url}/{key}"
    http_server_no_range.clear_log()
    parts = runtime.run(fetch.read_ranges(url, _ranges(len(data))))
    assert [bytes(p) for p in parts] == [data[s:e] for s, e in _ranges(len(data))]
    with fetch.recording() as rec:
        head, version = runtime.run(fetch.read_head(url, 100))
    assert (head, version.size) == (data[:100], len(data))
    assert (rec.requests, rec.bytes) == (1, 0)  # the kept body, revalidated (304)
    gets = [r.range for r in http_server_no_range.requests if r.method == "GET"]
    # Each range GET in flight is asked at most twice before the object is read whole (none
    # when an earlier test already taught this process that the origin ignores Range), then
    # one whole-object GET serves both reads: the body is cached, and the header read
    # revalidates it with a conditional GET.
    assert gets.count(None) == 2 and len(gets) - 2 <= 2 * 3


# -- the fault server ------------------------------------------------------------------------


def test_fault_server_follows_its_plan_and_logs_ranges(fault_server: FaultServer, blob):
    key, _ = blob
    url = f"{fault_server.url}/{key}"
    fault_server.inject(key, ["503", "429", "ok"])
    assert [_get(url, "bytes=0-9")[0] for _ in range(4)] == [503, 429, 206, 206]
    assert [(r.path, r.range, r.action) for r in fault_server.requests] == [
        (f"/{key}", "bytes=0-9", action) for action in ("503", "429", "ok", "ok")
    ]
    fault_server.inject("*", ["500"])
    assert _get(f"{fault_server.url}/collection.json")[0] == 500
    with pytest.raises(ValueError, match="unknown fault"):
        fault_server.inject(key, ["teapot"])


def test_fault_server_connection_faults(fault_server: FaultServer, blob):
    key, data = blob
    url = f"{fault_server.url}/{key}"
    fault_server.inject(key, ["reset", "short", "stall"])
    with pytest.raises(ConnectionResetError):
        _get(url, "bytes=0-9999")
    with pytest.raises(http.client.IncompleteRead) as short:
        _get(url, "bytes=0-9999")
    assert short.value.partial == data[:5000]
    fault_server.stall_s = 1.0  # the fixture restores it for the next test
    with pytest.raises(TimeoutError):
        _get(url, "bytes=0-9999", timeout=0.3)
    assert _get(url, "bytes=0-9")[2] == data[:10]  # plan used up: normal again


def test_fault_server_body_faults(fault_server: FaultServer, blob):
    key, data = blob
    url = f"{fault_server.url}/{key}"
    fault_server.inject(key, ["reset-body", "bad-range"])
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        _get(url, "bytes=0-9999")  # half the body, then an RST (which may drop what is unread)
    status, headers, body = _get(url, "bytes=0-9999")
    assert (status, body) == (206, data[:10_000])
    assert headers["Content-Range"] == f"bytes 1-10000/{len(data)}"


def test_fault_server_random_faults_are_seeded(fault_server: FaultServer, blob):
    key, _ = blob
    url = f"{fault_server.url}/{key}"

    def statuses(rate: float, seed: int) -> list[int]:
        fault_server.random_faults(rate, ["500", "503"], seed=seed)
        return [_get(url, "bytes=0-9")[0] for _ in range(20)]

    first = statuses(0.5, seed=1)
    assert statuses(0.5, seed=1) == first and {206, 500, 503} == set(first)
    assert set(statuses(1.0, seed=2)) <= {500, 503}
    fault_server.inject(key, ["404"])  # a plan comes before the random faults
    assert statuses(0.0, seed=3) == [404] + [206] * 19


# -- S3 ------------------------------------------------------------------------------------


def test_s3_obstore_and_cogdex(s3_server: S3Emulator, blob):
    key, data = blob
    assert bytes(obstore.get_range(s3_server.store(), key, start=10, end=90)) == data[10:90]
    anonymous = S3Store(
        s3_server.bucket,
        endpoint=s3_server.endpoint,
        region="us-east-1",
        skip_signature=True,
        client_options={"allow_http": True},
    )
    assert bytes(obstore.get_range(anonymous, key, start=10, end=90)) == data[10:90]
    parts = runtime.run(
        fetch.read_ranges(s3_server.url(key), _ranges(len(data)), options=s3_server.options)
    )
    assert [bytes(p) for p in parts] == [data[s:e] for s, e in _ranges(len(data))]


def test_s3_requester_pays_bucket(s3_server: S3Emulator, blob):
    key, data = blob
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = s3_server.requester_pays_bucket
    assert client.get_bucket_request_payment(Bucket=bucket)["Payer"] == "Requester"
    assert client.get_bucket_request_payment(Bucket=s3_server.bucket)["Payer"] == "BucketOwner"
    with pytest.raises(PermissionDeniedError):
        obstore.get_range(s3_server.store(bucket), key, start=0, end=10)
    store = s3_server.store(bucket, request_payer=True)
    assert bytes(obstore.get(store, key).bytes()) == data


# -- Azure ---------------------------------------------------------------------------------


def test_azure_private_and_public_containers(azure_server: AzureEmulator, blob):
    key, data = blob
    assert bytes(obstore.get_range(azure_server.store(), key, start=5, end=50)) == data[5:50]

    def anonymous(container: str) -> AzureStore:
        return AzureStore(
            container,
            account_name=azure_server.account,
            endpoint=azure_server.blob_endpoint,
            skip_signature=True,
            client_options={"allow_http": True},
        )

    public = anonymous(azure_server.public_container)
    assert bytes(obstore.get_range(public, key, start=5, end=50)) == data[5:50]
    with pytest.raises(Exception, match=r"404|403|401|not found|NotFound"):
        obstore.get_range(anonymous(azure_server.container), key, start=5, end=50)


# -- cogdex.io.stores against the emulators ----------------------------------------------------


_CLOUD_URLS = [("s3_server", "url"), ("azure_server", "url"), ("azure_server", "https_url")]


@pytest.mark.parametrize(("server_fixture", "form"), _CLOUD_URLS)
def test_stores_resolve_cloud_urls_against_emulators(
    request: pytest.FixtureRequest, server_fixture: str, form: str, blob
):
    """s3://, az:// and Azure https URLs reach the emulators given the store options
    (anonymously here: the S3 bucket and the public container allow it)."""
    server: S3Emulator | AzureEmulator = request.getfixturevalue(server_fixture)
    key, data = blob
    public = getattr(server, "public_container", None)
    url = getattr(server, form)(key, public)
    options = server.anonymous_options
    store, resolved_key, parsed = stores().resolve(url, options)
    assert resolved_key == key
    assert parsed.kind == ("s3" if server_fixture == "s3_server" else "azure")
    assert bytes(obstore.get_range(store, resolved_key, start=0, end=64)) == data[:64]
    head, version = runtime.run(fetch.read_head(url, 4096, options=options))
    assert (head, version.size) == (data[:4096], len(data))
    assert version.etag


@pytest.mark.parametrize(("server_fixture", "form"), _CLOUD_URLS)
def test_stores_sign_with_keys_given_in_options(
    request: pytest.FixtureRequest, server_fixture: str, form: str, blob
):
    server: S3Emulator | AzureEmulator = request.getfixturevalue(server_fixture)
    key, data = blob
    url = getattr(server, form)(key)  # the private container for Azure
    store, _, _ = stores().resolve(url, server.options)
    assert store.config.get("skip_signature") in (None, False, "false")
    assert runtime.run(fetch.read_head(url, 4096, options=server.options))[0] == data[:4096]


# -- STAC ----------------------------------------------------------------------------------


def _expected(scenes: SceneSet, start: str, end: str, max_cloud: float = 101) -> list[str]:
    lo = dt.datetime.fromisoformat(f"{start}T00:00:00+00:00")
    hi = dt.datetime.fromisoformat(f"{end}T23:59:59+00:00")
    return sorted(
        s.id for s in scenes.scenes if lo <= s.datetime <= hi and s.cloud_cover < max_cloud
    )


def test_stac_api_search(stac_api: StacApi, scenes: SceneSet, http_server, blob):
    client = Client.open(stac_api.url)
    bbox = [77.99, 19.99, 78.01, 20.01]

    def search(**kw) -> list[str]:
        kw.setdefault("bbox", bbox)
        found = client.search(collections=[COLLECTION], max_items=100, **kw)
        return sorted(item.id for item in found.items())

    assert search() == sorted(s.id for s in scenes.scenes)
    window = "2024-01-01/2024-01-11"
    expected = _expected(scenes, "2024-01-01", "2024-01-11")
    assert search(datetime=window) == expected and 0 < len(expected) < len(scenes.scenes)
    cloudless = _expected(scenes, "2024-01-01", "2024-01-11", max_cloud=20)
    assert 0 < len(cloudless) < len(expected)
    assert search(datetime=window, query={"eo:cloud_cover": {"lt": 20}}) == cloudless
    cql2 = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]}
    assert search(datetime=window, filter=cql2, filter_lang="cql2-json") == cloudless
    # Far away: nothing.
    assert search(bbox=[0, 0, 1, 1]) == []
    # The items' hrefs lead to the files on the HTTP server.
    key, data = blob
    item = next(client.search(ids=[key.split("/")[1]], collections=[COLLECTION]).items())
    href = item.assets["red"].href
    assert href == f"{http_server.url}/{key}"
    assert _get(href, "bytes=0-99")[2] == data[:100]


def test_stac_files_on_disk_agree_with_scenes(stac_files, scenes: SceneSet):
    items = {it["id"]: it for it in stac_files.items}
    assert set(items) == {s.id for s in scenes.scenes}
    for s in scenes.scenes:
        props = items[s.id]["properties"]
        assert props["proj:epsg"] == s.epsg and props["eo:cloud_cover"] == s.cloud_cover
        assert dt.datetime.fromisoformat(props["datetime"]) == s.datetime
        stack = items[s.id]["assets"]["stack"]
        assert stack["href"] == f"{stac_files.base_url}/{s.keys['stack']}"
        assert np.allclose(stack["proj:transform"], list(s.transform)[:6])
    assert Path(stac_files.items_parquet).stat().st_size > 0
