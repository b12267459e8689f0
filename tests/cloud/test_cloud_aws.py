"""cogdex[aws] against moto's S3: the requester-pays header and the errors without credentials,
the boto3 chain (environment, a profile with `credential_process`, refresh), bucket regions
and S3-compatible endpoints."""

from __future__ import annotations

import datetime as dt
import pickle
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from obstore.auth.boto3 import Boto3CredentialProvider

from cogdex import plugins
from cogdex.errors import (
    AccessDeniedError,
    MissingCredentialsError,
    MissingPluginError,
)
from cogdex.io import fetch, runtime, stores
from cogdex.io.regions import bucket_region
from cogdex.io.stores import StoreRegistry, default_spec
from cogdex.io.urls import parse_url
from cogdex_aws import credentials
from tests.cloud.conftest import assert_missing_and_empty_fail_at_once, without_plugin
from tests.servers.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Emulator


def _read(url: str, options: dict | None = None) -> bytes:
    return bytes(runtime.run(fetch.read_ranges(url, [(100, 164)], options=options))[0])


def _endpoint_only(monkeypatch: pytest.MonkeyPatch, s3: S3Emulator) -> None:
    """The emulator's endpoint and region in the environment, no credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def test_requester_pays_bucket_gets_the_header_with_chain_credentials(
    s3_server, cloud_blob, monkeypatch
):
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    key, data = cloud_blob
    url = s3_server.url(key, s3_server.requester_pays_bucket)
    with pytest.raises(AccessDeniedError, match="cogdex-requester-pays"):
        _read(url)  # without the header the bucket refuses, as S3 does
    options = {"request_payer": True}
    assert _read(url, options) == data[100:164]
    spec = plugins.store_spec(parse_url(url), options)
    assert spec is not None and isinstance(spec.credential_provider, Boto3CredentialProvider)
    assert spec.config["request_payer"] is True
    assert spec.config["endpoint"] == s3_server.endpoint


def test_requester_pays_without_credentials_names_what_to_configure(
    s3_server, cloud_blob, monkeypatch
):
    _endpoint_only(monkeypatch, s3_server)
    url = s3_server.url(cloud_blob[0], s3_server.requester_pays_bucket)
    with pytest.raises(MissingCredentialsError, match="configure AWS credentials") as err:
        _read(url, {"request_payer": True})
    assert "install" not in str(err.value) and err.value.extra is None
    assert err.value.root == "s3://cogdex-requester-pays" and err.value.root in str(err.value)


def test_without_the_plugin_core_says_to_install_the_extra(s3_server, cloud_blob, monkeypatch):
    _endpoint_only(monkeypatch, s3_server)
    key, data = cloud_blob
    url = s3_server.url(key, s3_server.requester_pays_bucket)
    with without_plugin("aws"):
        with pytest.raises(
            MissingCredentialsError, match=r"install cogdex\[aws\] and configure AWS credentials"
        ) as err:
            _read(url, {"request_payer": True})
        assert err.value.extra == "aws"
        again = pickle.loads(pickle.dumps(err.value))  # crosses DataLoader worker boundaries
        assert (again.root, again.extra, str(again)) == ("s3://cogdex-requester-pays", "aws",
                                                         str(err.value))  # fmt: skip
        with pytest.raises(MissingPluginError, match=r'pip install "cogdex\[aws\]"'):
            _read(url, {"profile": "default"})
        # Keys that obstore reads itself still work without the plugin.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        assert _read(url, {"request_payer": True}) == data[100:164]


def test_public_bucket_is_read_anonymously_without_credentials(s3_server, cloud_blob, monkeypatch):
    _endpoint_only(monkeypatch, s3_server)
    key, data = cloud_blob
    url = s3_server.url(key)
    assert _read(url) == data[100:164]
    spec = plugins.store_spec(parse_url(url), {})
    assert spec is not None and spec.credential_provider is None
    assert spec.config["skip_signature"] is True


def test_a_missing_key_is_not_found_and_an_empty_one_a_tiff_error_at_once(s3_server):
    assert_missing_and_empty_fail_at_once(s3_server)


def test_keys_in_the_options_bypass_the_chain(s3_server, cloud_blob):
    key, data = cloud_blob
    url = s3_server.url(key, s3_server.requester_pays_bucket)
    options = {**s3_server.options, "request_payer": True}
    assert _read(url, options) == data[100:164]
    spec = plugins.store_spec(parse_url(url), options)
    assert spec is not None and spec.credential_provider is None
    assert spec.config["access_key_id"] == ACCESS_KEY_ID


_PROCESS = """
import datetime as dt, json, pathlib, sys
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=12)
print(json.dumps({"Version": 1, "AccessKeyId": f"AKIDCOGDEX{n}", "SecretAccessKey": "testing",
                  "SessionToken": f"session-{n}", "Expiration": expiry.isoformat()}))
"""


@pytest.fixture
def process_profile(clean_cloud_env: Path) -> tuple[str, Path]:
    """A profile whose keys come from `credential_process`, 12 minutes from expiry: inside
    botocore's advisory refresh window, so every read of the keys runs the process again."""
    home = clean_cloud_env
    script, counter = home / "creds.py", home / "calls"
    script.write_text(_PROCESS)
    (home / "aws-config").write_text(
        f"[profile cogdex-test]\nregion = us-east-1\n"
        f"credential_process = {sys.executable} {script} {counter}\n"
    )
    return "cogdex-test", counter


def test_profile_credentials_are_read_and_refreshed(
    s3_server, cloud_blob, monkeypatch, process_profile
):
    profile, counter = process_profile
    _endpoint_only(monkeypatch, s3_server)
    key, data = cloud_blob
    url = s3_server.url(key, s3_server.requester_pays_bucket)
    options = {"profile": profile, "request_payer": True}
    assert _read(url, options) == data[100:164]
    spec = plugins.store_spec(parse_url(url), options)
    assert spec is not None and "profile" not in spec.config
    provider = spec.credential_provider
    first, second = provider(), provider()
    # Each call goes back to the chain, which refreshes keys that are about to expire.
    assert first["access_key_id"] != second["access_key_id"]
    assert second["token"] == f"session-{int(counter.read_text())}"
    assert second["expires_at"] <= dt.datetime.now(dt.UTC) + credentials.TTL


def test_an_unknown_profile_is_a_credentials_error(s3_server, cloud_blob, monkeypatch):
    _endpoint_only(monkeypatch, s3_server)
    with pytest.raises(MissingCredentialsError, match="could not be loaded"):
        _read(s3_server.url(cloud_blob[0]), {"profile": "nope"})


def test_bucket_region_is_discovered_from_the_endpoint(s3_server, cloud_blob, monkeypatch):
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    bucket = "cogdex-region-eu"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    key, data = cloud_blob
    client.put_object(Bucket=bucket, Key=key, Body=data)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)  # no region anywhere
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    url = f"s3://{bucket}/{key}"
    spec = default_spec(parse_url(url), {})
    assert spec.config["region"] == "eu-west-1"
    assert _read(url) == data[100:164]
    # An explicit region wins over the discovered one.
    assert default_spec(parse_url(url), {"region": "us-west-2"}).config["region"] == "us-west-2"


class _RegionHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RegionServer

    def do_HEAD(self) -> None:
        self.server.heads.append(self.path)
        self.send_response(403)
        self.send_header("x-amz-bucket-region", "ap-southeast-2")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _RegionServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RegionHandler)
        self.heads: list[str] = []


@pytest.fixture
def region_server() -> Iterator[_RegionServer]:
    server = _RegionServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_bucket_region_is_asked_once_per_bucket(region_server):
    endpoint = f"http://127.0.0.1:{region_server.server_address[1]}"
    # A 403 (private or requester-pays bucket) still names the region.
    assert bucket_region("private-a", endpoint) == "ap-southeast-2"
    assert bucket_region("private-a", endpoint) == "ap-southeast-2"
    assert bucket_region("private-b", endpoint) == "ap-southeast-2"
    assert region_server.heads == ["/private-a", "/private-b"]
    assert bucket_region("x", "http://127.0.0.1:1") is None  # nothing listens: unknown


def test_a_region_lookup_that_got_no_answer_is_asked_again(fault_server):
    fault_server.inject("/cogdex-blip", ["reset"])
    assert bucket_region("cogdex-blip", fault_server.url) is None  # no answer: unknown now
    assert bucket_region("cogdex-blip", fault_server.url) is None  # answered: 404, no region
    assert bucket_region("cogdex-blip", fault_server.url) is None  # that answer is kept
    assert [r.action for r in fault_server.requests] == ["reset", "ok"]


def test_a_store_built_while_the_region_went_unanswered_is_built_again(fault_server, monkeypatch):
    monkeypatch.setattr(stores, "UNANSWERED_REGION_TTL", -1.0)  # due again at once
    registry = StoreRegistry()
    url, options = "s3://cogdex-blip-store/a.tif", {"endpoint": fault_server.url}
    fault_server.inject("/cogdex-blip-store", ["reset"])
    first = registry.resolve(url, options)[0]  # no answer: a store without a region
    second = registry.resolve(url, options)[0]  # built again, asking again: answered
    third = registry.resolve(url, options)[0]  # an answered store is kept
    assert first is not second and second is third
    assert [r.action for r in fault_server.requests] == ["reset", "ok"]


def test_endpoint_override_for_s3_compatible_stores(s3_server, cloud_blob, monkeypatch):
    key, data = cloud_blob
    url = s3_server.url(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # the S3-specific one wins
    assert default_spec(parse_url(url), {}).config["endpoint"] == s3_server.endpoint
    assert _read(url) == data[100:164]
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    spec = default_spec(parse_url(url), {"endpoint": s3_server.endpoint, "region": "x"})
    assert spec.config["endpoint"] == s3_server.endpoint
    assert spec.client_options["allow_http"] is True
