"""What lazy reads need of `dask.distributed` (imported only where it already is: a
client or a worker exists): the current client, and secret store options as a worker
plugin, sent and taken back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distributed import Client, WorkerPlugin, get_worker


class Secrets(WorkerPlugin):
    """Secret store options of lazy reads, held by each worker under their name."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)


def current_client() -> Client | None:
    """The client of `with client.as_current():`, else the default one, else None."""
    try:
        return Client.current()
    except ValueError:
        return None


def send_secrets(client: Client, name: str, options: Mapping[str, Any]) -> None:
    """Register the options on `client`'s workers (again: a no-op for the same name)."""
    if name not in client.run_on_scheduler(_plugin_names):
        client.register_plugin(Secrets(options), name=name)


def _plugin_names(dask_scheduler: Any) -> list[str]:
    return list(dask_scheduler.worker_plugins)


def unregister(client: Client, name: str) -> None:
    """Take the options of `name` off `client`'s workers (and its scheduler's list)."""
    if name in client.run_on_scheduler(_plugin_names):
        client.unregister_worker_plugin(name)


# A task in these states may still run, and so need a worker plugin's secrets.
_PENDING = frozenset({"waiting", "processing", "queued", "no-worker"})


def busy(client: Client) -> bool:
    """Whether a task may still need secrets: `client` waits for a future (the client
    records it before the scheduler hears of it: a Dataset persisted and dropped at once),
    or the cluster has a task to run. Tasks, optimized and fused, no longer say which graph
    they came from, so any counts."""
    pending = any(state.status == "pending" for state in list(client.futures.values()))
    return pending or bool(client.run_on_scheduler(_busy))


def _busy(dask_scheduler: Any) -> bool:
    return any(
        ts.state in _PENDING or (ts.state == "released" and ts.who_wants)
        for ts in dask_scheduler.tasks.values()
    )


def worker_secrets(name: str) -> dict[str, Any] | None:
    """The options registered as `name` on this worker; None off a worker or without."""
    try:
        plugin = get_worker().plugins.get(name)
    except ValueError:
        return None
    return plugin.options if isinstance(plugin, Secrets) else None
