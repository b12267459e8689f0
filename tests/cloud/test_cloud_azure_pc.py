"""cogdex[azure] against Azurite and a local Planetary Computer token API that mints real SAS
tokens: reads are signed, one token per container is shared by concurrent reads and renewed
before it expires during long loops, and no token reaches an index file. Plain Azure Blob
(account key, SAS) works through core's store with the plugin installed."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import cogdex
from cogdex import plugins
from cogdex.errors import AccessDeniedError, MissingPluginError
from cogdex.io import fetch, runtime
from cogdex.io.urls import parse_url
from cogdex_azure.planetary import PlanetaryComputerSigner
from tests.cloud.conftest import assert_missing_and_empty_fail_at_once, without_plugin
from tests.cloud.pc_sas_server import SasTokenServer, container_sas
from tests.servers.azurite import AzureEmulator, _create_container
from tests.servers.objects import upload
from tests.servers.scenes import AOI_LONLAT, SceneSet


@pytest.fixture(scope="module")
def pc_api(azure_server: AzureEmulator) -> Iterator[SasTokenServer]:
    server = SasTokenServer(azure_server.account, azure_server.key, ttl=3600).start()
    yield server
    server.close()


@pytest.fixture
def pc(pc_api: SasTokenServer, monkeypatch: pytest.MonkeyPatch) -> SasTokenServer:
    """The token API, pointed at through the Planetary Computer SDK's documented setting."""
    monkeypatch.setenv("PC_SDK_SAS_URL", pc_api.sas_url)
    pc_api.ttl = 3600
    return pc_api


def _container(azure: AzureEmulator, name: str, files: dict[str, Path]) -> str:
    """A new private container holding `files` (one per test, so token counts are its own)."""
    _create_container(azure.blob_endpoint.rsplit("/", 1)[0], name, public=False)
    upload(azure.store(name), files)
    return name


def _options(azure: AzureEmulator) -> dict:
    return {"planetary_computer": True, "endpoint": azure.blob_endpoint}


def _read(url: str, options: dict, start: int = 100) -> bytes:
    return bytes(runtime.run(fetch.read_ranges(url, [(start, start + 64)], options=options))[0])


def test_reads_are_signed_with_one_token_per_container(
    pc, azure_server, scenes: SceneSet, cloud_blob, monkeypatch
):
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "cogdex-test-subscription")
    key, data = cloud_blob
    name = _container(azure_server, "pc-signed", {key: scenes.root / key})
    url = azure_server.https_url(key, name)  # as the Planetary Computer's STAC items say
    with pytest.raises(AccessDeniedError):
        _read(url, {"endpoint": azure_server.blob_endpoint})  # private: unsigned reads fail
    for start in (0, 100, 5000):
        assert _read(url, _options(azure_server), start) == data[start : start + 64]
    assert pc.requests[azure_server.account, name] == 1
    assert _read(azure_server.https_url(key), _options(azure_server)) == data[100:164]
    assert pc.requests[azure_server.account, azure_server.container] == 1  # its own token
    assert set(pc.subscription_keys[-2:]) == {"cogdex-test-subscription"}
    spec = plugins.store_spec(parse_url(url), _options(azure_server))
    assert spec is not None and isinstance(spec.credential_provider, PlanetaryComputerSigner)
    assert "planetary_computer" not in spec.config


def test_hundred_concurrent_reads_share_one_token(pc, azure_server, scenes, cloud_blob):
    key, data = cloud_blob
    name = _container(azure_server, "pc-concurrent", {key: scenes.root / key})
    url = azure_server.https_url(key, name)
    requests = [(url, [(i * 1000, i * 1000 + 100)]) for i in range(100)]
    with fetch.recording() as rec:
        got = runtime.run(fetch.read_many(requests, options=_options(azure_server)))
    assert rec.requests == 100  # a hundred GETs, all in flight together (up to the limit)
    assert [bytes(g[0]) for g in got] == [data[s:e] for _, [(s, e)] in requests]
    assert pc.requests[azure_server.account, name] == 1


def test_token_is_renewed_before_expiry_during_a_long_read_loop(
    pc, azure_server, scenes, cloud_blob
):
    pc.ttl = 3  # seconds; obstore's own 5-minute threshold would ask on every read
    key, data = cloud_blob
    name = _container(azure_server, "pc-refresh", {key: scenes.root / key})
    url = azure_server.https_url(key, name)
    start = time.monotonic()
    reads = 0
    while time.monotonic() - start < 6.0:
        assert _read(url, _options(azure_server), reads % 5000) == data[reads % 5000 :][:64]
        reads += 1
    tokens = pc.requests[azure_server.account, name]
    # Renewed at 80 % of a 2-3 s life: 3 to 5 tokens in 6 s, for hundreds of reads.
    assert 3 <= tokens <= 5 < reads / 10


def test_a_failing_token_api_is_an_access_error_naming_the_container(pc, azure_server, cloud_blob):
    url = f"https://otheraccount.blob.core.windows.net/data/{cloud_blob[0]}"
    options = {"planetary_computer": True, "endpoint": azure_server.blob_endpoint}
    with pytest.raises(AccessDeniedError, match="otheraccount/data"):
        _read(url, options)


def test_without_the_plugin_the_error_names_the_extra(pc, azure_server, cloud_blob):
    with without_plugin("azure"), pytest.raises(MissingPluginError, match=r"cogdex\[azure\]"):
        _read(azure_server.https_url(cloud_blob[0]), _options(azure_server))


def test_plain_azure_blob_with_account_key_or_sas(azure_server, cloud_blob, monkeypatch):
    key, data = cloud_blob
    url = azure_server.url(key)  # the private container
    assert _read(url, azure_server.options) == data[100:164]
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    sas = container_sas(azure_server.account, azure_server.key, azure_server.container, expiry)
    sas_options = {"endpoint": azure_server.blob_endpoint, "sas_key": sas}
    assert _read(url, sas_options) == data[100:164]
    for name, value in azure_server.env.items():
        monkeypatch.setenv(name, value)
    assert _read(url, {}) == data[100:164]  # the standard variables, read by obstore


def test_a_missing_blob_is_not_found_and_an_empty_one_a_tiff_error_at_once(azure_server):
    assert_missing_and_empty_fail_at_once(azure_server)


def test_pc_build_and_export_keep_no_token(pc, azure_server, stac_files, scenes, tmp_path):
    """Items with signed hrefs (as the PC's own signing returns them) over the private
    container: the index keeps unsigned URLs and the signing flag, reads sign again, and no
    token appears in any written file."""
    given = container_sas(
        azure_server.account,
        azure_server.key,
        azure_server.container,
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    items = json.loads(json.dumps(stac_files.items))
    for item in items:
        for asset in item["assets"].values():
            key = asset["href"].removeprefix(stac_files.base_url + "/")
            asset["href"] = f"{azure_server.https_url(key)}?{given}"
    items_json = tmp_path / "pc-items.json"
    items_json.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    cache = tmp_path / "cache"
    coll = cogdex.build_from_stac(
        items_json, name="pc", bands=["B04"], store_options=_options(azure_server),
        cache_dir=cache,
    )  # fmt: skip
    assert len(coll) == len(scenes.scenes) and coll.skipped == []
    assert dict(coll.store_options) == _options(azure_server)
    hrefs = coll.band_source("B04").hrefs
    assert all(h.startswith(azure_server.https_url("scenes/")) and "?" not in h for h in hrefs)
    exported = coll.export(tmp_path / "export" / "pc.parquet")

    written = [p for p in [*cache.rglob("*"), *(tmp_path / "export").rglob("*")] if p.is_file()]
    assert written
    secrets = {given, *pc.tokens}
    for path in written:
        raw = path.read_bytes()
        assert b"sig=" not in raw and b"sig%3D" not in raw, path
        assert not [s for s in secrets if s.encode() in raw], path

    lon, lat = AOI_LONLAT
    aoi = (lon - 0.004, lat - 0.004, lon + 0.004, lat + 0.004)
    signed = cogdex.load(exported, cache_dir=tmp_path / "load").get_numpy(aoi, "B04")
    plain = cogdex.build_from_stac(
        stac_files.items_json, name="http", bands=["B04"], cache_dir=cache
    ).get_numpy(aoi, "B04")
    assert signed.shape == plain.shape and (signed > 0).mean() > 0.5
    np.testing.assert_array_equal(signed, plain)
