"""NASA Earthdata: bearer tokens for DAAC HTTPS assets, temporary S3 keys for in-region reads.

HTTPS URLs on Earthdata/DAAC hosts (`hosts.DOMAINS`, plus the `earthdata_hosts` option) get
`Authorization: Bearer <token>` whenever a token is found (`login.bearer_token`); with the
`earthdata` option (set by catalog entries with `auth="earthdata"`) a missing token is an
error. `s3://` URLs with the `earthdata` option are signed with the temporary keys of the
DAAC's `/s3credentials` endpoint (option `s3_credentials_url`, or `daac`, e.g. "LPDAAC"),
which obstore renews before they expire; those keys work only inside AWS us-west-2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cogdex.sdk import (
    MissingCredentialsError,
    ObjectURL,
    StoreError,
    StoreSpec,
    default_spec,
    hookimpl,
)
from cogdex_earthdata.hosts import extra_hosts, token_allowed
from cogdex_earthdata.login import LoginError, bearer_token

_OWN = ("earthdata", "earthdata_hosts", "earthdata_token", "s3_credentials_url", "daac")
_HOW = (
    "set EARTHDATA_TOKEN (a token from https://urs.earthdata.nasa.gov/profile), or "
    "EARTHDATA_USERNAME and EARTHDATA_PASSWORD, or a ~/.netrc entry for urs.earthdata.nasa.gov"
)


@hookimpl(tryfirst=True)
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    wanted = bool(options.get("earthdata"))
    hosts = extra_hosts(options.get("earthdata_hosts"))
    rest = {k: v for k, v in options.items() if k not in _OWN}
    if url.kind == "s3" and wanted:
        return _s3_spec(url, options, hosts, rest)
    if url.kind != "http":
        return None
    if not token_allowed(url.url, hosts):
        if wanted:
            raise StoreError(
                f"{url.root} is not an Earthdata/DAAC host over HTTPS, so cogdex will not send "
                "it an Earthdata token; name it in the earthdata_hosts store option if it is one"
            )
        return None
    token = _token(url, options, required=wanted)
    if token is None:
        return None  # public files on a DAAC host, read anonymously
    spec = default_spec(url, rest)
    headers = {**spec.client_options.get("default_headers", {})}
    headers["Authorization"] = f"Bearer {token}"
    client = {**spec.client_options, "default_headers": headers}
    return dataclasses.replace(spec, client_options=client)


def _s3_spec(
    url: ObjectURL, options: Mapping[str, Any], hosts: frozenset[str], rest: dict[str, Any]
) -> StoreSpec:
    from obstore.auth.earthdata import NasaEarthdataCredentialProvider

    endpoint = options.get("s3_credentials_url") or _daac_endpoint(url, options.get("daac"))
    if not token_allowed(endpoint, hosts):
        raise StoreError(
            f"s3_credentials_url {endpoint} is not an Earthdata/DAAC host over HTTPS, so cogdex "
            "will not send it an Earthdata token"
        )
    token = _token(url, options, required=True)
    provider = NasaEarthdataCredentialProvider(endpoint, auth=token)
    return default_spec(url, {**rest, "credential_provider": provider})


def _daac_endpoint(url: ObjectURL, daac: str | None) -> str:
    if daac:
        from earthaccess.daac import DAACS

        for entry in DAACS:
            if entry["short-name"].lower() == daac.lower() and entry["s3-credentials"]:
                return entry["s3-credentials"]
        names = ", ".join(e["short-name"] for e in DAACS if e["s3-credentials"])
        raise StoreError(f"unknown DAAC {daac!r} for {url.root}; known: {names}")
    raise StoreError(
        f"Earthdata S3 reads of {url.root} need the DAAC's S3 credentials endpoint: store "
        "option s3_credentials_url (e.g. https://data.lpdaac.earthdatacloud.nasa.gov/"
        "s3credentials) or daac (e.g. 'LPDAAC')"
    )


def _token(url: ObjectURL, options: Mapping[str, Any], *, required: bool) -> str | None:
    try:
        token = bearer_token(options)
    except LoginError as exc:
        raise MissingCredentialsError(
            f"Earthdata Login refused the credentials for {url.root}: {exc}", root=url.root
        ) from exc
    if token is None and required:
        raise MissingCredentialsError(
            f"{url.root} needs NASA Earthdata Login and no credentials were found: {_HOW}",
            root=url.root,
        )
    return token
