"""GCS in core: `gs://` URLs, anonymous reads of public buckets, signed reads when Google
credentials are present.

No GCS emulator that obstore can read from installs from PyPI or npm: gcp-storage-emulator
does not route the percent-encoded object paths obstore sends (`/cogdex%2Dgcs/a%2Fb`), and
fake-gcs-server is a Go binary. Object reads of GCS's XML API are plain HTTP range GETs of
`{base_url}/{bucket}/{object}`, so a Range server over a folder per bucket stands in for
them (obstore's `base_url` option), and logs the Authorization header that obstore sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cogdex.errors import StoreError
from cogdex.io import fetch, runtime
from cogdex.io.stores import build_store, default_spec
from cogdex.io.urls import parse_url
from tests.cloud.earthdata_servers import OpenFileServer
from tests.servers.scenes import SceneSet


@pytest.fixture(scope="module")
def gcs_xml_api(scenes: SceneSet, server_logs) -> Iterator[OpenFileServer]:
    """Buckets are the folders of `scenes.root`: `gs://scenes/<id>/B04.tif`."""
    server = OpenFileServer(scenes.root, server_logs / "gcs.log").start()
    yield server
    server.close()


def _read(url: str, options: dict) -> bytes:
    return bytes(runtime.run(fetch.read_ranges(url, [(100, 164)], options=options))[0])


@pytest.mark.parametrize("scheme", ["gs", "gcs"])
def test_gs_urls_parse_into_bucket_and_key(scheme):
    url = parse_url(f"{scheme}://my-bucket/path/to/a%20b.tif")
    assert (url.kind, url.root, url.bucket, url.key) == ("gcs", "gs://my-bucket", "my-bucket",
                                                          "path/to/a b.tif")  # fmt: skip
    with pytest.raises(StoreError, match="gs://my-bucket"):
        parse_url("gs://my-bucket")


def test_public_buckets_are_read_anonymously(gcs_xml_api, cloud_blob):
    key, data = cloud_blob
    url = f"gs://{key}"  # bucket "scenes"
    options = {"base_url": gcs_xml_api.url}
    spec = default_spec(parse_url(url), options)
    assert spec.config["skip_signature"] is True and spec.credential_provider is None
    assert build_store(spec).config["bucket"] == "scenes"
    assert _read(url, options) == data[100:164]
    assert gcs_xml_api.auth_log[-1] == (f"/{key}", None)


def test_google_credentials_sign_reads(gcs_xml_api, cloud_blob, monkeypatch):
    key, data = cloud_blob
    url = f"gs://{key}"
    monkeypatch.setenv("GOOGLE_BEARER_TOKEN", "ya29.cogdex-test")
    options = {"base_url": gcs_xml_api.url}
    assert "skip_signature" not in default_spec(parse_url(url), options).config
    assert _read(url, options) == data[100:164]
    assert gcs_xml_api.auth_log[-1] == (f"/{key}", "Bearer ya29.cogdex-test")


def test_which_credentials_count(monkeypatch, clean_cloud_env):
    url = parse_url("gs://bucket/key.tif")

    def anonymous(options: dict | None = None) -> bool:
        return default_spec(url, options or {}).config.get("skip_signature") is True

    assert anonymous()
    assert not anonymous({"service_account_key": "{...}"})
    assert not anonymous({"service_account": "/etc/gcs.json"})
    assert not anonymous({"application_credentials": "/etc/adc.json"})
    assert not anonymous({"skip_signature": False})  # e.g. a VM's metadata-server identity
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/etc/adc.json")
    assert not anonymous()
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    # What `gcloud auth application-default login` writes, where obstore reads it.
    adc = clean_cloud_env / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    assert not anonymous()
