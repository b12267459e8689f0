"""cogdex[earthdata] against local stand-ins of a DAAC (bearer tokens, redirects, S3 keys)
and of Earthdata Login (username and password for a token, over HTTPS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from obstore.auth.earthdata import NasaEarthdataCredentialProvider

from cogdex import plugins
from cogdex.errors import AccessDeniedError, MissingCredentialsError, MissingPluginError, StoreError
from cogdex.io import fetch, runtime
from cogdex.io.stores import public_options, stores
from cogdex.io.urls import parse_url
from cogdex_earthdata.hosts import token_allowed
from tests.cloud.conftest import without_plugin
from tests.cloud.earthdata_servers import DaacServer, EdlServer, OpenFileServer
from tests.servers.scenes import SceneSet
from tests.servers.tls import local_tls

TOKEN = "edl-token-0123456789"


@pytest.fixture(scope="module")
def daac(scenes: SceneSet, server_logs) -> Iterator[DaacServer]:
    foreign = OpenFileServer(scenes.root, server_logs / "foreign.log").start()
    server = DaacServer(scenes.root, server_logs / "daac.log", TOKEN, foreign).start()
    yield server
    server.close()
    foreign.close()


def _options(daac: DaacServer, **more) -> dict:
    return {"earthdata": True, "earthdata_hosts": "127.0.0.1", **more}


def _read(url: str, options: dict) -> bytes:
    return bytes(runtime.run(fetch.read_ranges(url, [(100, 164)], options=options))[0])


def test_bearer_token_from_the_environment(daac, cloud_blob, monkeypatch):
    key, data = cloud_blob
    url = f"{daac.url}/protected/{key}"
    with pytest.raises(AccessDeniedError):
        _read(url, {})  # the data host wants a token
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    assert _read(url, _options(daac)) == data[100:164]
    assert daac.auth_log[-1] == (f"/protected/{key}", f"Bearer {TOKEN}")
    monkeypatch.setenv("EARTHDATA_TOKEN", "not-the-token")
    stores().clear()  # stores keep the token they were built with
    with pytest.raises(AccessDeniedError, match="401"):
        _read(url, _options(daac))


def test_token_in_the_options_never_reaches_an_index():
    options = {"earthdata": True, "earthdata_token": TOKEN, "earthdata_hosts": "127.0.0.1"}
    assert public_options(options) == {"earthdata": True, "earthdata_hosts": "127.0.0.1"}


def test_missing_credentials_say_how_to_log_in(daac, cloud_blob):
    url = f"{daac.url}/protected/{cloud_blob[0]}"
    with pytest.raises(MissingCredentialsError, match=r"EARTHDATA_TOKEN.*netrc") as err:
        _read(url, _options(daac))
    assert err.value.root == daac.url


def test_token_does_not_follow_a_redirect_to_a_foreign_host(daac, cloud_blob, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    key, data = cloud_blob
    before = len(daac.foreign.auth_log)
    assert _read(f"{daac.url}/away/{key}", _options(daac)) == data[100:164]
    assert daac.auth_log[-1] == (f"/away/{key}", f"Bearer {TOKEN}")
    seen = daac.foreign.auth_log[before:]
    assert seen == [(f"/{key}", None)]  # the foreign host got the request, not the token
    # Within the origin the token is kept (the protected file needs it).
    assert _read(f"{daac.url}/home/{key}", _options(daac)) == data[100:164]
    assert daac.auth_log[-1] == (f"/protected/{key}", f"Bearer {TOKEN}")


def test_token_goes_only_to_earthdata_hosts(daac, cloud_blob, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    foreign = f"{daac.foreign.url}/{cloud_blob[0]}"
    with pytest.raises(StoreError, match="not an Earthdata/DAAC host"):
        _read(foreign, _options(daac))  # localhost is not in the allow-list
    # Without the option a foreign URL is not the plugin's: read anonymously, no token.
    before = len(daac.foreign.auth_log)
    assert _read(foreign, {}) == cloud_blob[1][100:164]
    assert daac.foreign.auth_log[before:] == [(f"/{cloud_blob[0]}", None)]
    assert token_allowed("https://data.lpdaac.earthdatacloud.nasa.gov/x.tif")
    assert token_allowed("https://e4ftl01.cr.usgs.gov/x.tif")
    assert not token_allowed("http://data.lpdaac.earthdatacloud.nasa.gov/x.tif")  # no TLS
    assert not token_allowed("https://earthdata.nasa.gov.example.com/x.tif")
    assert not token_allowed("http://10.0.0.1/x.tif", {"10.0.0.1"})  # plain HTTP off loopback


def test_daac_hosts_are_claimed_without_the_option(monkeypatch):
    url = parse_url("https://data.lpdaac.earthdatacloud.nasa.gov/lp-prod-protected/x.tif")
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    spec = plugins.store_spec(url, {})
    assert spec is not None
    assert spec.client_options["default_headers"] == {"Authorization": f"Bearer {TOKEN}"}


def test_temporary_s3_keys_for_in_region_reads(daac, s3_server, cloud_blob, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    key, data = cloud_blob
    url = s3_server.url(key)
    options = _options(
        daac, s3_credentials_url=f"{daac.url}/s3credentials", endpoint=s3_server.endpoint
    )
    before = daac.count("/s3credentials")
    for _ in range(3):
        assert _read(url, options) == data[100:164]
    assert daac.count("/s3credentials") == before + 1  # obstore keeps the keys until expiry
    spec = plugins.store_spec(parse_url(url), options)
    assert spec is not None
    assert isinstance(spec.credential_provider, NasaEarthdataCredentialProvider)
    with pytest.raises(StoreError, match="s3_credentials_url"):
        plugins.store_spec(parse_url(url), {"earthdata": True})
    with pytest.raises(StoreError, match="unknown DAAC 'NOPE'"):
        plugins.store_spec(parse_url(url), {"earthdata": True, "daac": "NOPE"})


@pytest.fixture
def edl(tmp_path) -> Iterator[EdlServer]:
    server = EdlServer(local_tls(tmp_path, "edl"), "cogdex-user", "cogdex-pass", TOKEN).start()
    yield server
    server.close()


@pytest.mark.parametrize("source", ["environment", "netrc"])
def test_username_and_password_are_exchanged_for_the_token(
    daac, edl, cloud_blob, monkeypatch, clean_cloud_env, source
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(edl.tls.ca))
    monkeypatch.setenv("EARTHDATA_HOST", edl.host)
    if source == "environment":
        monkeypatch.setenv("EARTHDATA_USERNAME", "cogdex-user")
        monkeypatch.setenv("EARTHDATA_PASSWORD", "cogdex-pass")
    else:
        (clean_cloud_env / "netrc").write_text(
            f"machine {edl.host} login cogdex-user password cogdex-pass\n"
        )
    key, data = cloud_blob
    assert _read(f"{daac.url}/protected/{key}", _options(daac)) == data[100:164]
    assert edl.logins == [True]  # one login for the process, then the token is kept


def test_a_refused_login_is_a_credentials_error(daac, edl, cloud_blob, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(edl.tls.ca))
    monkeypatch.setenv("EARTHDATA_HOST", edl.host)
    monkeypatch.setenv("EARTHDATA_USERNAME", "cogdex-user")
    monkeypatch.setenv("EARTHDATA_PASSWORD", "wrong")
    with pytest.raises(MissingCredentialsError, match="refused"):
        _read(f"{daac.url}/protected/{cloud_blob[0]}", _options(daac))


def test_without_the_plugin_the_error_names_the_extra(daac, cloud_blob):
    with without_plugin("earthdata"), pytest.raises(MissingPluginError, match="earthdata"):
        _read(f"{daac.url}/protected/{cloud_blob[0]}", _options(daac))
