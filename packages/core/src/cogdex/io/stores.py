"""URL -> obstore store: ask the cloud plugins first, else build core's default; one store per
origin (bucket, container, host) and process, reused by every read."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from cogdex import plugins
from cogdex.errors import MissingCredentialsError, MissingPluginError, StoreError
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
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)  # keys, tokens
    client_options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # headers
    credential_provider: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "client_options", MappingProxyType(dict(self.client_options)))


_CLIENT_DEFAULTS: dict[str, Any] = {
    # Object stores answer a range GET's first byte in well under a second and then stream;
    # silence for `read_timeout` (before the headers or between body chunks) is a stall, cut
    # there and retried by cogdex.io.fetch instead of waiting out `timeout`.
    "connect_timeout": "5s",
    "read_timeout": "10s",
    # A whole GET (`max_merge`, 16 MiB) on a slow link; the fetch deadline bounds retries.
    "timeout": "60s",
    # Reuse warm connections, but drop them before S3 closes idle ones (~20 s) under us.
    "pool_idle_timeout": "15s",
}


def default_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec:
    """Core's store for URLs no plugin claims, and the base that plugins extend.

    Signs with what obstore finds natively (options, environment, well-known files) and is
    anonymous where there is nothing. S3 buckets without a `region` option get the one S3
    reports (`regions.bucket_region`); `endpoint` (or `AWS_ENDPOINT_URL_S3`,
    `AWS_ENDPOINT_URL`) points at an S3-compatible store. Options that only a plugin
    understands raise `MissingPluginError`, and a requester-pays bucket without credentials
    `MissingCredentialsError`, before any request is sent.
    """
    config = dict(options)
    _refuse_plugin_options(url, config)
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
    if url.kind == "s3":
        _s3_endpoint_and_region(url, config)
    endpoint = config.get("endpoint") or config.get("base_url")  # base_url: GCS's
    if endpoint and endpoint.startswith("http://"):
        client.setdefault("allow_http", True)
    signed = _CREDENTIALS_IN_ENV[url.kind]() or has_credentials(config, provider)
    if url.kind == "s3" and config.get("request_payer") and not signed:
        raise requester_pays_error(url, plugin_missing=not plugins.loaded("aws"))
    if not signed:
        config.setdefault("skip_signature", True)  # public data needs no credentials
    return StoreSpec(url.kind, url.root, config, client, provider)


# Store options that only a cloud plugin understands: (extra, what it does).
_PLUGIN_OPTIONS = {
    "planetary_computer": ("azure", "Planetary Computer signing"),
    "earthdata": ("earthdata", "NASA Earthdata login"),
    "profile": ("aws", "AWS profiles"),
}


def _refuse_plugin_options(url: ObjectURL, config: Mapping[str, Any]) -> None:
    for name, (extra, feature) in _PLUGIN_OPTIONS.items():
        if not config.get(name):
            continue
        if not plugins.loaded(extra):
            raise MissingPluginError(f"{feature} ({url.root})", extra)
        raise StoreError(f"store option {name!r} does not apply to {url.url}")


def requester_pays_error(url: ObjectURL, *, plugin_missing: bool) -> MissingCredentialsError:
    """The error for a requester-pays bucket read without AWS credentials."""
    todo = (
        "install cogdex[aws] and configure AWS credentials"
        if plugin_missing
        else "configure AWS credentials"
    )
    return MissingCredentialsError(
        f"{url.root} is a requester-pays bucket: its reads are billed to the reader's AWS "
        f"account, so they must be signed, and no AWS credentials were found; {todo} "
        "(environment variables, a profile, SSO or an instance role)",
        root=url.root,
        extra="aws" if plugin_missing else None,
    )


def _s3_endpoint_and_region(url: ObjectURL, config: dict[str, Any]) -> None:
    env = os.environ
    endpoint = (
        config.get("endpoint") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        config["endpoint"] = endpoint
    if "region" not in config and url.bucket:
        from cogdex.io.regions import bucket_region  # urllib/ssl: only when needed

        region = bucket_region(url.bucket, endpoint)
        if region:
            config["region"] = region


_CREDENTIAL_WORDS = (
    "key", "secret", "token", "sas", "password", "credential", "service_account",
    "client_id", "azure_cli", "federated", "msi", "role_arn", "web_identity",
)  # fmt: skip


def is_credential_option(name: str) -> bool:
    """Whether a store option names a credential (never written to an index file)."""
    return any(word in name.lower() for word in _CREDENTIAL_WORDS)


_IDENTITY_WORDS = ("tenant", "authority")


def is_identity_option(name: str) -> bool:
    """Whether a store option says who the reader is rather than where the data is (an
    Azure AD tenant, its authority host): not a secret, so it does not make requests
    signed, but one user's value must not override another's, so it stays out of an
    index file too."""
    return any(word in name.lower() for word in _IDENTITY_WORDS)


def has_credentials(options: Mapping[str, Any], provider: Any = None) -> bool:
    """Whether store options carry credentials of their own (keys, tokens, a credential
    file, a provider), so requests must be signed and no other source is consulted."""
    if provider is not None or options.get("credential_provider") is not None:
        return True
    return any(is_credential_option(name) for name in options)


def _aws_credentials_in_env() -> bool:
    """Credentials obstore reads itself (it has no profiles: those need cogdex[aws])."""
    env = os.environ
    return bool(env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_WEB_IDENTITY_TOKEN_FILE"))


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


_GCS_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_BEARER_TOKEN",
)


def _gcs_credentials_in_env() -> bool:
    """A credential variable, or the application-default credentials that
    `gcloud auth application-default login` writes where obstore looks for them."""
    if any(os.environ.get(k) for k in _GCS_ENV):
        return True
    home = os.environ.get("APPDATA" if os.name == "nt" else "HOME")
    if not home:
        return False
    folder = "gcloud" if os.name == "nt" else os.path.join(".config", "gcloud")
    return os.path.isfile(os.path.join(home, folder, "application_default_credentials.json"))


_CREDENTIALS_IN_ENV = {
    "s3": _aws_credentials_in_env,
    "azure": _azure_credentials_in_env,
    "gcs": _gcs_credentials_in_env,
}


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


# Seconds a store built while its S3 bucket's region went unanswered (a timeout, a reset)
# is used before it is built again, asking again: one blip must not fix a wrong region for good.
UNANSWERED_REGION_TTL = 30.0


class StoreRegistry:
    """Stores of this process, one per (root, options); safe to share between threads."""

    def __init__(self) -> None:
        # (root, options) -> (store, time.monotonic() to rebuild it at; 0: never)
        self._stores: dict[tuple, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def resolve(
        self, url: str | os.PathLike[str] | ObjectURL, options: Mapping[str, Any] | None = None
    ) -> tuple[Any, str, ObjectURL]:
        """(store, key, parsed URL) for `url`; the store is built on first use."""
        parsed = url if isinstance(url, ObjectURL) else parse_url(url)
        options = options or {}
        cache_key = (parsed.root, _freeze(options))
        entry = self._stores.get(cache_key)
        if entry is None or (entry[1] and entry[1] < time.monotonic()):
            with self._lock:
                entry = self._stores.get(cache_key)
                if entry is None or (entry[1] and entry[1] < time.monotonic()):
                    spec = plugins.store_spec(parsed, options) or default_spec(parsed, options)
                    entry = self._stores[cache_key] = (build_store(spec), _rebuild_at(spec, parsed))
        key = parsed.key.lstrip("/") if parsed.kind == "local" else parsed.key
        return entry[0], key, parsed

    def clear(self) -> None:
        """Drop every store, so the next read asks the plugins and credential sources again
        (after credentials or plugins changed in a running process)."""
        with self._lock:
            self._stores.clear()


def _rebuild_at(spec: StoreSpec, url: ObjectURL) -> float:
    """When to build the store of `spec` again: never (0), unless it is an S3 store without
    a region because the bucket's region went unanswered."""
    if spec.kind != "s3" or "region" in spec.config or not url.bucket:
        return 0.0
    from cogdex.io.regions import answered

    if answered(url.bucket, spec.config.get("endpoint")):
        return 0.0
    return time.monotonic() + UNANSWERED_REGION_TTL


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


def public_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Store options safe to write into an index: secrets, URLs carrying credentials (an
    endpoint or proxy with `user:password@` or a query string) and non-JSON values are left
    out (pass them again to `load(..., store_options=...)`)."""
    from cogdex.redact import safe_url

    out = {}
    for key, value in (options or {}).items():
        if is_credential_option(key) or is_identity_option(key) or "private" in key.lower():
            continue
        if isinstance(value, str) and safe_url(value) != value:
            continue
        if value is None or isinstance(value, bool | int | float | str):
            out[key] = value
    return out


class StoreOptions(Mapping[str, Any]):
    """Store options as reads use them, secrets included, behind a repr that shows only
    `public_options` (the rest as `***`): printing `Collection.store_options` in a notebook
    or a log must not show a key the user passed to the build."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = dict(options)

    def __getitem__(self, key: str) -> Any:
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        public = public_options(self._options)
        shown = {k: public.get(k, "***") for k in self._options}
        return f"StoreOptions({shown!r})"


__all__ = [
    "UNANSWERED_REGION_TTL",
    "StoreOptions",
    "StoreRegistry",
    "StoreSpec",
    "build_store",
    "default_spec",
    "has_credentials",
    "is_credential_option",
    "is_identity_option",
    "public_options",
    "requester_pays_error",
    "stores",
]
