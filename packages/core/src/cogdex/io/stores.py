"""URL -> obstore store: ask the cloud plugins first, else build core's default; one store per
origin (bucket, container, host) and process, reused by every read."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from cogdex import plugins
from cogdex.errors import StoreError
from cogdex.io import runtime
from cogdex.io.urls import ObjectURL, StoreKind, parse_url


@dataclass(frozen=True)
class StoreSpec:
    """How to build the store for one root: what a cloud plugin returns from
    `cogdex_store_spec`, and what core builds by default.

    `config` holds obstore configuration keys for the kind (`region`, `endpoint`,
    `skip_signature`, `request_payer`, `account_name`, ...), `client_options` obstore's HTTP
    client options, `credential_provider` an obstore credential provider (called at request
    time, so tokens and signatures never leave memory).
    """

    kind: StoreKind
    root: str
    config: Mapping[str, Any] = field(default_factory=dict)
    client_options: Mapping[str, Any] = field(default_factory=dict)
    credential_provider: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "client_options", MappingProxyType(dict(self.client_options)))


_CLIENT_DEFAULTS: dict[str, Any] = {
    # Many small range GETs in flight: keep connections warm and plentiful.
    "pool_idle_timeout": "90s",
    "connect_timeout": "10s",
    "timeout": "60s",
}


def default_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec:
    """Core's store for URLs no plugin claims: anonymous where no credentials are configured."""
    config = dict(options)
    client = {**_CLIENT_DEFAULTS, **config.pop("client_options", {})}
    provider = config.pop("credential_provider", None)
    if url.kind == "local":
        return StoreSpec("local", url.root)
    if url.kind == "http":
        if url.root.startswith("http://"):
            client.setdefault("allow_http", True)
        return StoreSpec("http", url.root, client_options=client)
    if url.kind == "azure":
        config.setdefault("account_name", url.account)
        if endpoint := config.get("endpoint") or _azurite_endpoint(url):
            config["endpoint"] = endpoint
    endpoint = config.get("endpoint") or (
        os.environ.get("AWS_ENDPOINT_URL") if url.kind == "s3" else None
    )
    if endpoint and endpoint.startswith("http://"):
        client.setdefault("allow_http", True)
    in_env = {"s3": _aws_credentials_in_env, "azure": _azure_credentials_in_env,
              "gcs": _gcs_credentials_in_env}[url.kind]  # fmt: skip
    if not (in_env() or _has_credentials(config, provider)):
        config.setdefault("skip_signature", True)  # public data needs no credentials
    return StoreSpec(url.kind, url.root, config, client, provider)


_CREDENTIAL_WORDS = ("key", "secret", "token", "sas", "password", "credential")


def _has_credentials(config: Mapping[str, Any], provider: Any) -> bool:
    """Whether the options carry credentials of their own (then requests must be signed)."""
    return provider is not None or any(
        word in name.lower() for name in config for word in _CREDENTIAL_WORDS
    )


def _aws_credentials_in_env() -> bool:
    env = os.environ
    return bool(
        env.get("AWS_ACCESS_KEY_ID")
        or env.get("AWS_PROFILE")
        or env.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    )


def _azure_credentials_in_env() -> bool:
    env = os.environ
    return any(
        env.get(k)
        for k in (
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_STORAGE_SAS_KEY",
            "AZURE_STORAGE_TOKEN",
            "AZURE_CLIENT_ID",
            "AZURE_STORAGE_USE_EMULATOR",
        )
    )


def _gcs_credentials_in_env() -> bool:
    return bool(
        os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.environ.get("GOOGLE_SERVICE_ACCOUNT")
    )


def _azurite_endpoint(url: ObjectURL) -> str | None:
    if os.environ.get("AZURE_STORAGE_USE_EMULATOR", "").lower() in ("1", "true", "yes"):
        base = os.environ.get("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:10000").rstrip("/")
        return f"{base}/{url.account}"
    return None


# cogdex.io.fetch retries with its own policy and counts every try; obstore must not retry too.
_NO_RETRY = {"max_retries": 0, "retry_timeout": timedelta(seconds=300)}


def build_store(spec: StoreSpec) -> Any:
    """Build the obstore store a spec describes, with this process's obstore module."""
    st = runtime.obstore()._store
    common = {"client_options": dict(spec.client_options), "retry_config": _NO_RETRY}
    config = dict(spec.config)
    provider = spec.credential_provider
    if spec.kind == "local":
        return st.LocalStore()
    if spec.kind == "http":
        return st.HTTPStore.from_url(spec.root, **common)
    bucket = spec.root.split("://", 1)[1]
    if spec.kind == "s3":
        return st.S3Store(bucket, config=config, credential_provider=provider, **common)
    if spec.kind == "gcs":
        return st.GCSStore(bucket, config=config, credential_provider=provider, **common)
    if spec.kind == "azure":
        _account, container = bucket.split("/", 1)
        return st.AzureStore(container, config=config, credential_provider=provider, **common)
    raise StoreError(f"unknown store kind {spec.kind!r}")


class StoreRegistry:
    """Stores of this process, one per (root, options); safe to share between threads."""

    def __init__(self) -> None:
        self._stores: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def resolve(
        self, url: str | os.PathLike[str] | ObjectURL, options: Mapping[str, Any] | None = None
    ) -> tuple[Any, str, ObjectURL]:
        """(store, key, parsed URL) for `url`; the store is built on first use."""
        parsed = url if isinstance(url, ObjectURL) else parse_url(url)
        options = options or {}
        cache_key = (parsed.root, _freeze(options))
        store = self._stores.get(cache_key)
        if store is None:
            with self._lock:
                store = self._stores.get(cache_key)
                if store is None:
                    spec = plugins.store_spec(parsed, options) or default_spec(parsed, options)
                    store = build_store(spec)
                    self._stores[cache_key] = store
        key = parsed.key.lstrip("/") if parsed.kind == "local" else parsed.key
        return store, key, parsed


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set):
        return tuple(_freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return id(value)
    return value


_registries: dict[int, StoreRegistry] = {}


def stores() -> StoreRegistry:
    """This process's store registry (a new, empty one in each forked or spawned child)."""
    pid = os.getpid()
    reg = _registries.get(pid)
    if reg is None:
        _registries.clear()
        reg = _registries[pid] = StoreRegistry()
    return reg
