"""Azure Blob; Planetary Computer assets signed at read time with cached SAS tokens.

A read is signed for the Planetary Computer when its store options say
`planetary_computer: true`: catalog entries with `auth="planetary-computer"` put it in the
options of their builds, and the index keeps it (with the unsigned URLs), so every later
read asks this plugin for a token. Storage accounts are not recognised by name: the
Planetary Computer's list changes, and a token request for someone else's account would
fail. Plain Azure Blob (account keys, SAS, Azure AD from options or the environment) is
left to core's store, which obstore signs natively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogdex.sdk import ObjectURL, StoreSpec, default_spec, has_credentials, hookimpl


@hookimpl
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    if url.kind != "azure" or not options.get("planetary_computer"):
        return None
    opts = {k: v for k, v in options.items() if k != "planetary_computer"}
    if has_credentials(opts):
        return default_spec(url, opts)  # the caller's own key or SAS for the container
    from cogdex_azure.planetary import PlanetaryComputerSigner  # obstore.auth, requests: lazily

    signer = PlanetaryComputerSigner(account_name=url.account, container_name=url.bucket)
    return default_spec(url, {**opts, "credential_provider": signer})
