"""S3 through the boto3 credential chain (env, profile, SSO, instance role), requester-pays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogdex.hookspecs import hookimpl
from cogdex.io.stores import StoreSpec, default_spec
from cogdex.io.urls import ObjectURL


@hookimpl
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    if url.kind != "s3":
        return None
    import boto3
    from obstore.auth.boto3 import Boto3CredentialProvider

    session = boto3.Session(profile_name=options.get("profile"))
    opts = {k: v for k, v in options.items() if k != "profile"}
    if session.get_credentials() is None:
        return default_spec(url, opts)
    opts.setdefault("region", session.region_name or "us-east-1")
    spec = default_spec(url, {**opts, "skip_signature": False})
    return StoreSpec(
        spec.kind, spec.root, spec.config, spec.client_options, Boto3CredentialProvider(session)
    )
