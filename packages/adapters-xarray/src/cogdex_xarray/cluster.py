"""What lazy reads need of `dask.distributed` (imported only where it already is: a
client or a worker exists): the current client, and secret store options as a worker
plugin."""

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


def worker_secrets(name: str) -> dict[str, Any] | None:
    """The options registered as `name` on this worker; None off a worker or without."""
    try:
        plugin = get_worker().plugins.get(name)
    except ValueError:
        return None
    return plugin.options if isinstance(plugin, Secrets) else None
