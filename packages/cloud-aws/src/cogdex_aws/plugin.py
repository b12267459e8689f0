"""S3 with the boto3 credential chain, requester-pays buckets, bucket regions.

Credentials come from boto3 (env, profile, SSO, instance role) and are refreshed during
reads; requester-pays buckets send the request-payer header. Options: `request_payer` (set
by catalog entries of requester-pays buckets), `profile` (an AWS profile name), `region`,
`endpoint` (S3-compatible stores) and obstore's S3 keys. Keys given in the options, or
`skip_signature`, are used as they are and the chain is not consulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogdex.sdk import (
    MissingCredentialsError,
    ObjectURL,
    StoreSpec,
    default_spec,
    has_credentials,
    hookimpl,
    requester_pays_error,
)


@hookimpl
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    if url.kind != "s3":
        return None
    opts = dict(options)
    profile = opts.pop("profile", None)
    if has_credentials(opts) or opts.get("skip_signature"):
        return default_spec(url, opts)
    # boto3 costs ~0.2 s to import: only S3 reads that need the chain pay for it.
    from cogdex_aws.credentials import CredentialChainError, credential_provider

    try:
        provider = credential_provider(profile)
    except CredentialChainError as exc:
        raise MissingCredentialsError(
            f"AWS credentials for {url.root} could not be loaded: {exc}; configure AWS "
            "credentials (environment variables, a profile, SSO or an instance role)",
            root=url.root,
        ) from exc
    if provider is None:
        if opts.get("request_payer"):
            raise requester_pays_error(url, plugin_missing=False)
        return default_spec(url, opts)  # public buckets, anonymously
    return default_spec(url, {**opts, "credential_provider": provider})
