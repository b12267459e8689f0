"""A Dask cluster of 2 worker processes (1 thread each) on this machine, for the package;
what its tests watch on it: the tasks as shipped, and a worker killed mid-call."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster, SchedulerPlugin, WorkerPlugin
from distributed.protocol.pickle import dumps


@pytest.fixture(scope="package")
def dask_client() -> Iterator[Client]:
    """A `Client` of a `LocalCluster(n_workers=2, processes=True, threads_per_worker=1)`,
    not the default client (other tests' dask arrays keep their own scheduler)."""
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


class TaskPayloads(SchedulerPlugin):
    """Pickles every task the scheduler receives, as it would ship them to workers."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def update_graph(self, scheduler: Any, *, tasks: list[Any], **kwargs: Any) -> None:
        self.payloads += [dumps(scheduler.tasks[key].run_spec) for key in tasks]


@pytest.fixture
def payloads(dask_client: Client) -> Iterator[list[bytes]]:
    """The pickled tasks of what the test runs on `dask_client` (its scheduler is in-process)."""
    dask_client.register_plugin(TaskPayloads(), name="payloads")
    plugin = dask_client.cluster.scheduler.plugins["payloads"]
    yield plugin.payloads
    dask_client.unregister_scheduler_plugin("payloads")


class KillOnce(WorkerPlugin):
    """Kills its worker's process when the first task whose key starts with `prefix` starts
    on it, once per cluster (the marker file says it happened)."""

    def __init__(self, marker: Path, prefix: str) -> None:
        self.marker = marker
        self.prefix = prefix

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing" and str(key).startswith(self.prefix):
            try:
                self.marker.open("x").close()
            except FileExistsError:
                return
            os.kill(os.getpid(), signal.SIGKILL)
