"""Secret store options of lazy reads: held by name, never put into a Dask graph.

A chunk's task carries the store options' public part and the name of the rest. The name
resolves in the process that made the Dataset (the threaded scheduler runs there) and, on
a `dask.distributed` cluster, on every worker: when a client is current as the Dataset is
made, the secrets go to the workers once as a worker plugin of that name (the scheduler
re-sends it to a worker that replaces a lost one), as the Dask index build sends its own.
It stays for the client's lifetime, since a Dataset may be computed at any time.
Better still, workers have credentials of their own and the options hold none.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from typing import Any

from cogdex.sdk import StoreError

_held: dict[str, dict[str, Any]] = {}


def hold(options: Mapping[str, Any]) -> str:
    """The name of these secret options, held from now on in this process and, if a
    distributed client is current, on its workers."""
    name = next((n for n, held in _held.items() if held == dict(options)), None)
    if name is None:
        name = f"cogdex-read-secrets-{uuid.uuid4().hex[:12]}"
        _held[name] = dict(options)
    client = _current_client()
    if client is not None:
        if "credential_provider" in options:
            raise StoreError(
                "a lazy read on a Dask cluster creates its stores on the workers from plain "
                "store options: a credential_provider object cannot go there; give the "
                "credentials as options, or let the workers find their own (environment, "
                "instance role)"
            )
        from cogdex_xarray.cluster import send_secrets

        send_secrets(client, name, _held[name])
    return name


def held(name: str) -> dict[str, Any]:
    """The secret options of `name`, in this process or on this Dask worker."""
    options = _held.get(name)
    if options is None and "distributed" in sys.modules:
        from cogdex_xarray.cluster import worker_secrets

        options = worker_secrets(name)
    if options is None:
        raise StoreError(
            "this chunk's store options hold secrets that did not reach this process: make "
            "the Dask client current (`with client.as_current():` or `Client(...)` as the "
            "default) before `get_xarray(..., chunks=...)`, or give the workers credentials "
            "of their own"
        )
    return options


def _current_client() -> Any:
    """The current `distributed.Client`, None without one (distributed never imported:
    no client can exist)."""
    if "distributed" not in sys.modules:
        return None
    from cogdex_xarray.cluster import current_client

    return current_client()
