"""NASA Earthdata HTTPS assets with a bearer token (EARTHDATA_TOKEN)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from cogdex.hookspecs import hookimpl
from cogdex.io.stores import StoreSpec, default_spec
from cogdex.io.urls import ObjectURL


@hookimpl
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    if url.kind != "http" or not options.get("earthdata"):
        return None
    token = options.get("earthdata_token") or os.environ.get("EARTHDATA_TOKEN")
    if not token:
        return None
    opts = {k: v for k, v in options.items() if k not in ("earthdata", "earthdata_token")}
    spec = default_spec(url, opts)
    client = {**spec.client_options, "default_headers": {"Authorization": f"Bearer {token}"}}
    return StoreSpec(spec.kind, spec.root, spec.config, client)
