"""Azure Blob; Planetary Computer assets signed at read time with cached SAS tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogdex.hookspecs import hookimpl
from cogdex.io.stores import StoreSpec, default_spec
from cogdex.io.urls import ObjectURL


@hookimpl
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    if url.kind != "azure" or not options.get("planetary_computer"):
        return None
    from obstore.auth.planetary_computer import PlanetaryComputerCredentialProvider

    provider = PlanetaryComputerCredentialProvider(
        account_name=url.account, container_name=url.bucket
    )
    opts = {k: v for k, v in options.items() if k != "planetary_computer"}
    spec = default_spec(url, {**opts, "skip_signature": False})
    return StoreSpec(spec.kind, spec.root, spec.config, spec.client_options, provider)
