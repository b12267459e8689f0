"""Fixtures of the cloud-plugin tests: a clean store registry per test, an environment with
no cloud credentials, plugins switched off in-process, and the blob every test reads."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest

import cogdex
from cogdex import plugins
from cogdex.errors import NotFoundError, TruncatedTIFF
from cogdex.io import fetch
from cogdex.io.stores import stores
from tests.servers.scenes import SceneSet

_CLOUD_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USE_AZURE_CLI",
    "AZURE_STORAGE_USE_EMULATOR",
    "PC_SDK_SAS_URL", "PC_SDK_SUBSCRIPTION_KEY",
    "EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "EARTHDATA_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY", "GOOGLE_BEARER_TOKEN",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_cloud_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No cloud credentials from the machine: no variables, no ~/.aws, ~/.netrc, gcloud or
    Planetary Computer settings (HOME is an empty folder), no instance metadata; and a store
    registry emptied around the test, so stores built under other credentials are not
    reused. Yields the fake home."""
    for name in _CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NETRC", str(home / "netrc"))
    stores().clear()
    yield home
    stores().clear()


@contextlib.contextmanager
def without_plugin(name: str) -> Iterator[None]:
    """As if `cogdex[name]` were not installed: the plugin is unregistered in this process
    for the block (and the stores it built are dropped)."""
    plugin = plugins.plugin_manager().get_plugin(name)
    assert plugin is not None, f"plugin {name!r} is not installed"
    plugins.unregister(plugin)
    stores().clear()
    try:
        yield
    finally:
        plugins.register(plugin, name=name)
        stores().clear()


@pytest.fixture(scope="session")
def cloud_blob(scenes: SceneSet) -> tuple[str, bytes]:
    """(key, bytes) of one scene file, as the emulators hold it."""
    path = scenes.scenes[0].files["B04"]
    return scenes.key(path), path.read_bytes()


def assert_missing_and_empty_fail_at_once(emulator: Any) -> None:
    """On a store `emulator` (url(), options, store()): a missing object is NotFoundError and
    an empty one a TIFF error, each after one request and no retries (both are permanent,
    as for local files and HTTP)."""
    missing = emulator.url("scenes/missing.tif")
    with fetch.recording() as rec, pytest.raises(NotFoundError, match=re.escape(missing)):
        cogdex.open(missing, **emulator.options)
    assert (rec.requests, rec.retries) == (1, 0)
    obstore.put(emulator.store(), "empty/empty.tif", b"")
    empty = emulator.url("empty/empty.tif")
    with fetch.recording() as rec, pytest.raises(TruncatedTIFF, match=re.escape(empty)):
        cogdex.open(empty, **emulator.options)
    assert (rec.requests, rec.retries) == (1, 0)
