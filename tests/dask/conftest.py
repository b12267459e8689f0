"""A Dask cluster of 2 worker processes (1 thread each) on this machine, for the package;
what its tests watch on it: the tasks as shipped, and a worker killed mid-call."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.config
import pytest
from distributed import Client, LocalCluster, SchedulerPlugin, WorkerPlugin
from distributed.protocol.pickle import dumps


@pytest.fixture(scope="package")
def dask_client() -> Iterator[Client]:
    """A `Client` of a `LocalCluster(n_workers=2, processes=True, threads_per_worker=1)`,
    not the default client (other tests' dask arrays keep their own scheduler).

    The cluster never gives up on a worker its tests kill (`KillOnce`): a `LocalCluster`
    closes the nanny of a worker that is not back `distributed.deploy.lost-worker-timeout`
    (15 s) after any removal of a worker of its name, meant for lost batch jobs, though a
    nanny is restarting it. On a loaded 2-core machine a worker start took longer (or the
    timer of the previous kill of that name fired during this one's restart): the nanny
    and its new worker were closed, the cluster stayed at one worker for good, and the
    wait for the second timed out (at 60 s, then at 300 s)."""
    with (
        dask.config.set({"distributed.deploy.lost-worker-timeout": "1 day"}),
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


def wait_for_both_workers(client: Client) -> None:
    """Wait for the cluster's two workers (a nanny's new one after a kill). A start takes
    seconds, even loaded (3-8 s with two CPU burners beside the suite); on a timeout the
    error shows what each nanny and its worker process were doing, and the cluster's
    recent logs."""
    try:
        client.wait_for_workers(2, timeout=120)
    except TimeoutError as exc:
        cluster = client.cluster
        nannies = {
            name: (str(nanny.status), getattr(nanny.process, "status", None), nanny.pid)
            for name, nanny in cluster.workers.items()
        }
        workers = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        logs = {**cluster.get_logs(), **client.get_worker_logs(nanny=True)}
        logs_text = "\n".join(f"--- {who}:\n{log}" for who, log in logs.items())
        raise AssertionError(
            f"{exc}\nnannies (name: status, process status, pid; a name missing: the "
            f"cluster closed its nanny, see dask_client): {nannies}\n"
            f"workers the scheduler knows (address: name): {workers}\n{logs_text}"
        ) from exc
