"""Plain Azure Blob with Azure AD: a service principal (client credentials) signs reads through
obstore's native AzureStore, end to end through cogdex.

Azurite runs over HTTPS with `--oauth basic` (it checks a bearer token's issuer, audience and
lifetime) and a local Microsoft identity platform token endpoint grants the tokens; both use a
test CA that the store options trust (`client_options.root_certificate`), and the endpoint is
reached through obstore's `authority_host` / `AZURE_AUTHORITY_HOST`, as another Azure cloud
would be. The private container refuses unsigned reads, so every pixel read here went
through a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

import cogdex
from cogdex.errors import AccessDeniedError
from cogdex.io import fetch, runtime
from cogdex.io.stores import stores
from cogdex.read.tilecache import tile_cache
from tests.cloud.aad_token_server import AadTokenServer
from tests.servers.azurite import AzureEmulator
from tests.servers.scenes import AOI_LONLAT, SceneSet, StacFiles

TENANT = "0c0de5e1-7e57-4a11-9ad0-00000000c06d"
CLIENT_ID = "5e7c1ce0-7e57-4a11-9ad0-000000000001"
SECRET = "cogdex~aad~client~secret~0123456789"


@pytest.fixture(scope="module")
def aad(azure_oauth_server: AzureEmulator) -> Iterator[AadTokenServer]:
    assert azure_oauth_server.tls is not None
    server = AadTokenServer(azure_oauth_server.tls, TENANT, CLIENT_ID, SECRET).start()
    yield server
    server.close()


def _sp_options(azure: AzureEmulator, aad: AadTokenServer, **changes: str) -> dict[str, Any]:
    """The service principal in store options, as a user passes it (obstore config keys);
    `changes` replace its `tenant_id`, `client_id` or `client_secret`."""
    principal = {"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": SECRET, **changes}
    return {**azure.endpoint_options, **principal, "authority_host": aad.authority}


def _as_if_in_a_new_process() -> None:
    """No store (nor its token) and no decoded tile kept from earlier reads."""
    stores().clear()
    tile_cache().clear()


def _local(path: Path, window: tuple[int, int, int, int]) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(window=Window(*window))


@pytest.mark.parametrize("form", ["url", "https_url"])
def test_service_principal_in_options_reads_the_pixels(azure_oauth_server, aad, scenes, form):
    path = scenes.scenes[0].files["B04"]
    url = getattr(azure_oauth_server, form)(scenes.key(path))
    with pytest.raises(AccessDeniedError):  # the container is private: unsigned reads fail
        cogdex.open(url, **azure_oauth_server.endpoint_options)
    granted, refused = aad.counts()
    tif = cogdex.open(url, **_sp_options(azure_oauth_server, aad))
    window = (100, 200, 300, 250)
    np.testing.assert_array_equal(tif.read(window), _local(path, window))
    assert aad.counts() == (granted + 1, refused)


def test_service_principal_from_the_environment(azure_oauth_server, aad, scenes, monkeypatch):
    """The variables azure-identity's EnvironmentCredential reads as well; the options only
    say where Azurite is and which CA to trust."""
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", aad.authority)
    path = scenes.scenes[1].files["B08"]
    granted, _ = aad.counts()
    tif = cogdex.open(
        azure_oauth_server.url(scenes.key(path)), **azure_oauth_server.endpoint_options
    )
    np.testing.assert_array_equal(tif.read((0, 0, 64, 64)), _local(path, (0, 0, 64, 64)))
    assert aad.counts()[0] == granted + 1


def test_concurrent_reads_share_one_token_per_store(azure_oauth_server, aad, scenes):
    path = scenes.scenes[2].files["B02"]
    key, data = scenes.key(path), path.read_bytes()
    url = azure_oauth_server.https_url(key)
    options = _sp_options(azure_oauth_server, aad)
    granted, _ = aad.counts()
    requests = [(url, [(i * 1000, i * 1000 + 100)]) for i in range(100)]
    with fetch.recording() as rec:
        got = runtime.run(fetch.read_many(requests, options=options))
        tif = cogdex.open(url, **options)
        whole = tif.read()  # every tile of the full-resolution level, fetched concurrently
    assert rec.requests > 100
    assert [bytes(g[0]) for g in got] == [data[s:e] for _, [(s, e)] in requests]
    np.testing.assert_array_equal(whole, _local(path, (0, 0, tif.width, tif.height)))
    assert aad.counts()[0] == granted + 1  # obstore holds the token until shortly before expiry
    public = azure_oauth_server.https_url(key, azure_oauth_server.public_container)
    assert bytes(runtime.run(fetch.read_ranges(public, [(0, 64)], options=options))[0]) == data[:64]
    assert aad.counts()[0] == granted + 2  # another container is another store, with its own


def test_azurite_checks_the_token(azure_oauth_server, aad, scenes, monkeypatch):
    """A token the endpoint grants for another resource (Azure Resource Manager) is refused
    by the blob service: reads depend on the token's claims, not on any bearer header."""
    monkeypatch.setattr(aad, "audience", "https://management.azure.com/")
    url = azure_oauth_server.https_url(scenes.key(scenes.scenes[0].files["B03"]))
    granted, _ = aad.counts()
    with pytest.raises(AccessDeniedError) as caught:
        cogdex.open(url, **_sp_options(azure_oauth_server, aad))
    assert "Invalid token audience" in str(caught.value.__cause__)  # Azurite's answer
    assert aad.counts()[0] == granted + 1


def test_a_wrong_secret_is_access_denied_naming_the_url(azure_oauth_server, aad, scenes):
    url = azure_oauth_server.https_url(scenes.key(scenes.scenes[0].files["B03"]))
    granted, refused = aad.counts()
    with pytest.raises(AccessDeniedError) as caught:
        cogdex.open(url, **_sp_options(azure_oauth_server, aad, client_secret="not-the-secret"))
    assert caught.value.url == url and url in str(caught.value)
    assert "invalid_client" in str(caught.value) and "not-the-secret" not in str(caught.value)
    assert aad.counts() == (granted, refused + 1)  # refused once, not retried
    assert aad.refused[-1] == "invalid_client"


@pytest.mark.parametrize(
    ("change", "error"),
    [({"client_id": "00000000-0000-0000-0000-000000000000"}, "unauthorized_client"),
     ({"tenant_id": "contoso.onmicrosoft.com"}, "invalid_request")],
)  # fmt: skip
def test_an_unknown_client_or_tenant_is_access_denied(
    azure_oauth_server, aad, scenes, change, error
):
    """AAD answers these with 400, not 401 (a typo in the client or tenant id): still a
    refused credential, not a missing object or a failed read."""
    url = azure_oauth_server.url(scenes.key(scenes.scenes[0].files["B03"]))
    with pytest.raises(AccessDeniedError, match=error) as caught:
        cogdex.open(url, **_sp_options(azure_oauth_server, aad, **change))
    assert caught.value.url == url
    assert aad.refused[-1] == error


def test_build_keeps_the_secret_out_of_the_index(
    azure_oauth_server, aad, stac_files: StacFiles, scenes: SceneSet, tmp_path
):
    """A build over the private container with the service principal in `store_options`:
    the index keeps the endpoint, tenant and authority but neither the client id nor the
    secret; the collection reads with them in this process, a later `load` reads when they
    are given again and is refused without them."""

    def items_with(href: str) -> Any:
        items = json.loads(json.dumps(stac_files.items))
        for item in items:
            for asset in item["assets"].values():
                key = asset["href"].removeprefix(stac_files.base_url + "/")
                asset["href"] = href.format(key=key)
        path = tmp_path / f"items-{len(list(tmp_path.glob('items-*')))}.json"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
        return path

    options = _sp_options(azure_oauth_server, aad)
    cache = tmp_path / "cache"
    granted, _ = aad.counts()
    coll = cogdex.build_from_stac(
        items_with(azure_oauth_server.https_url("{key}")), name="aad", bands=["B04"],
        store_options=options, cache_dir=cache,
    )  # fmt: skip
    assert len(coll) == len(scenes.scenes) and coll.skipped == []
    written = dict(coll.metadata.store_options)
    # where the data is, not who reads it: the tenant and its authority stay with the reader
    assert written == {"endpoint": azure_oauth_server.blob_endpoint}
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files
    for path in files:
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and CLIENT_ID.encode() not in raw, path
        assert TENANT.encode() not in raw, path
        assert not [t for t in aad.tokens if t.encode() in raw], path

    lon, lat = AOI_LONLAT
    aoi = (lon - 0.004, lat - 0.004, lon + 0.004, lat + 0.004)
    local = cogdex.build_from_stac(
        items_with(str(scenes.root / "{key}")), name="local", bands=["B04"], cache_dir=cache
    ).get_numpy(aoi, "B04")
    assert (local > 0).mean() > 0.5
    np.testing.assert_array_equal(coll.get_numpy(aoi, "B04"), local)
    _as_if_in_a_new_process()
    loaded = cogdex.load(coll.location, store_options=options, cache_dir=tmp_path / "load")
    np.testing.assert_array_equal(loaded.get_numpy(aoi, "B04"), local)
    assert aad.counts()[0] == granted + 2  # one token per process and store, not per read
    _as_if_in_a_new_process()
    bare = cogdex.load(
        coll.location, store_options=azure_oauth_server.endpoint_options, cache_dir=tmp_path / "l2"
    )
    with pytest.raises(AccessDeniedError):
        bare.get_numpy(aoi, "B04")
