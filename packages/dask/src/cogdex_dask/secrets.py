"""Store options' secrets on the workers for one call, outside every task.

A task carries only `public_options(options)`; the rest (keys, tokens, headers) goes to the
workers once in a worker plugin, which the scheduler holds and re-sends to a worker that
replaces a lost one, and which is removed when the call ends. On the worker, `complete`
merges the two back, and core and the cloud plugins create stores from them as in any
process. A `credential_provider` object is refused: it would have to be pickled.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from distributed import Client, WorkerPlugin, get_worker

from cogdex.sdk import public_options


class Secrets(WorkerPlugin):
    """A call's secret store options, held by each worker while the call runs."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)


@contextmanager
def shipped(
    client: Client, store_options: Mapping[str, Any] | None, call: str, refuse: type[Exception]
) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """(public options for the tasks, the name of the worker plugin holding the secrets or
    None) for the duration of the block; `refuse` is the error for a credential provider,
    whose message names the `call`."""
    public = None if store_options is None else public_options(store_options)
    secret = {k: v for k, v in (store_options or {}).items() if k not in (public or {})}
    if "credential_provider" in secret:
        raise refuse(
            f"{call} with client= creates its stores on the workers from plain store "
            "options: a credential_provider object cannot go there; give the credentials "
            "as options, or let the workers find their own (environment, instance role)"
        )
    plugin = f"cogdex-secrets-{uuid.uuid4().hex[:12]}" if secret else None
    if plugin is not None:
        client.register_plugin(Secrets(secret), name=plugin)
    try:
        yield public, plugin
    finally:
        if plugin is not None:
            _unregister(client, plugin)


def _unregister(client: Client, plugin: str) -> None:
    """Take the call's secrets off the workers. If that fails (the scheduler is gone) it is
    a warning: raising here would replace the call's own error, or lose its result."""
    try:
        client.unregister_worker_plugin(plugin)
    except Exception as exc:
        warnings.warn(
            f"the workers still hold this call's store secrets (worker plugin {plugin}) "
            f"until they restart: removing it failed ({type(exc).__name__})",
            RuntimeWarning,
            stacklevel=3,
        )


def complete(options: Mapping[str, Any] | None, plugin: str | None) -> Mapping[str, Any] | None:
    """On a worker: a task's public options completed with the call's secrets."""
    if plugin is None:
        return options
    secrets = get_worker().plugins[plugin]
    assert isinstance(secrets, Secrets)
    return {**(options or {}), **secrets.options}


__all__ = ["Secrets", "complete", "shipped"]
