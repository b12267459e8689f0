"""Parse the URLs and paths users give into (store root, key) pairs: no I/O, no stores."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from cogdex.errors import StoreError
from cogdex.redact import AZURE_SCHEMES, has_userinfo, safe_url

StoreKind = Literal["local", "http", "s3", "azure", "gcs"]

_AZURE_BLOB_HOST = re.compile(r"(?P<account>[a-z0-9]+)\.(blob|dfs)\.core\.windows\.net")


@dataclass(frozen=True)
class ObjectURL:
    """One object, split into the store that serves it and its key in that store.

    `root` identifies the store (`s3://bucket`, `http://host:port`, `az://account/container`,
    `gs://bucket`, `file://`): objects with the same root share one store per process.
    """

    url: str
    kind: StoreKind
    root: str
    key: str
    bucket: str | None = None
    account: str | None = None

    @property
    def host(self) -> str | None:
        return urlsplit(self.url).hostname if self.kind == "http" else None


def is_local(url: str) -> bool:
    """Whether `url` names a local file (a path, `file://`, a Windows drive), as
    `parse_url` reads it, without resolving it."""
    return _local_scheme(urlsplit(url).scheme.lower())


def _local_scheme(scheme: str) -> bool:
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def parse_url(url: str | os.PathLike[str]) -> ObjectURL:
    """Split `url` (a path, `file://`, `http(s)://`, `s3://`, `az://`, `abfs://`, `gs://`, or
    an Azure Blob https URL). Raises `StoreError` for schemes cogdex cannot read."""
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise StoreError(f"not a URL or path: {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if _local_scheme(scheme):
        path = unquote(parts.path) if scheme == "file" else url
        absolute = Path(path).expanduser().resolve()
        return ObjectURL(url=absolute.as_uri(), kind="local", root="file://", key=str(absolute))
    if has_userinfo(url):
        raise StoreError(
            "URL has a user name or password (user:password@...), which cogdex's stores do "
            "not send; pass credentials in store_options instead (for HTTP: "
            "client_options={'default_headers': {'Authorization': ...}}): "
            f"{safe_url(url)}"
        )
    if scheme in ("http", "https"):
        if parts.query:
            raise StoreError(
                f"URL has a query string (a signed URL?); give the unsigned URL and let a "
                f"cloud plugin sign it at read time: {safe_url(url)}"
            )
        host = (parts.hostname or "").lower()
        blob = _AZURE_BLOB_HOST.fullmatch(host)
        if blob:
            container, _, key = parts.path.lstrip("/").partition("/")
            if not container or not key:
                raise StoreError(f"Azure Blob URL needs a container and a blob name: {url}")
            account = blob.group("account")
            return ObjectURL(
                url,
                "azure",
                f"az://{account}/{container}",
                unquote(key),
                bucket=container,
                account=account,
            )
        if not host:
            raise StoreError(f"URL has no host: {url}")
        origin = f"{scheme}://{parts.netloc}"
        return ObjectURL(url, "http", origin, unquote(parts.path.lstrip("/")))
    if scheme in ("s3", "s3a", "gs", "gcs", *AZURE_SCHEMES) and ("?" in url or "#" in url):
        # URL syntax makes them a query string and a fragment, which no key includes: the
        # object read would be another one (`a#b.tif` read as `a`), or another version of
        # it (`?versionId=`), not the one named
        raise StoreError(
            f"{scheme}:// URL has a '?' or '#', which would not be part of the object's key: "
            f"percent-encode them in a key (%3F, %23); object versions are not supported: "
            f"{safe_url(url)}"
        )
    if scheme in ("s3", "s3a"):
        bucket, key = _bucket_key(parts.netloc, parts.path, url)
        return ObjectURL(url, "s3", f"s3://{bucket}", key, bucket=bucket)
    if scheme in ("gs", "gcs"):
        bucket, key = _bucket_key(parts.netloc, parts.path, url)
        return ObjectURL(url, "gcs", f"gs://{bucket}", key, bucket=bucket)
    if scheme in AZURE_SCHEMES:
        container, _, account_host = parts.netloc.partition("@")
        account = account_host.split(".")[0] if account_host else None
        if not container:
            raise StoreError(f"Azure URL has no container: {url}")
        account = (
            account
            or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
            or os.environ.get("AZURE_STORAGE_ACCOUNT")
        )
        if not account:
            raise StoreError(
                "Azure URL names no storage account (use abfs://container@account..., an "
                "https://account.blob.core.windows.net/... URL, or AZURE_STORAGE_ACCOUNT_NAME): "
                f"{url}"
            )
        key = unquote(parts.path.lstrip("/"))
        if not key:
            raise StoreError(f"Azure URL has no blob name: {url}")
        return ObjectURL(
            url, "azure", f"az://{account}/{container}", key, bucket=container, account=account
        )
    raise StoreError(f"unsupported URL scheme {scheme!r}: {url}")


def _bucket_key(netloc: str, path: str, url: str) -> tuple[str, str]:
    key = unquote(path.lstrip("/"))
    if not netloc or not key:
        raise StoreError(f"URL needs a bucket and a key: {url}")
    return netloc, key


__all__ = ["ObjectURL", "StoreKind", "is_local", "parse_url"]
