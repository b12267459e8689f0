"""`sample_points` on a Dask cluster: the caller plans, workers read tiles, the caller assembles.

The caller's process plans the call as a local one does (which tile of which file each
point needs, from the index: no I/O) and cuts the plan into tasks by tile (core's
`PointPlan.tasks`): every tile is in exactly one task, so it is fetched and decoded once
cluster-wide, and a file's tiles stay together so a worker fetches them in coalesced
requests. A task carries the files' parsed headers, the points' positions in their tiles
and the store options' public part; secrets travel as in builds (`cogdex_dask.secrets`).
Workers return the gathered values, which core puts in place: the result is the local
call's, row for row.

A task lost with its worker is run again by the scheduler; one that raised is retried
`RETRIES` times, except for a cogdex error (a file that is gone, a tile that does not
decode), which comes back at once and is raised as the local call raises it.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.config
from distributed import Client, as_completed

from cogdex.sdk import CogdexError, PointPlan, PointTask, TaskValues, sample_task
from cogdex_dask import secrets
from cogdex_dask.client import connect, is_address, resolve

TASKS_PER_THREAD = 4
"""Tasks per worker thread: enough that a slow or lost task does not hold the call up."""
TASK_TILES = (4, 256)
"""Tiles per task, at least (so a task's fetch and decode outweigh its scheduling) and at most."""
RETRIES = 2
"""How often a task that raised is run again."""


def executor_for(client: object) -> DaskPointExecutor | SchedulerPointExecutor | None:
    """The executor for a `sample_points` `client=`: a `Client`, "active" (the current
    one), or a scheduler's address ("tcp://host:8786"); None for anything else (another
    plugin may claim it)."""
    if is_address(client):
        return SchedulerPointExecutor(client)
    found = resolve(client, ValueError)
    return None if found is None else DaskPointExecutor(found)


@dataclass(frozen=True)
class DaskPointExecutor:
    """Reads a sampling call's tiles as tasks on `client`'s cluster (`cogdex.sdk.PointExecutor`)."""

    client: Client

    def local_points(self, points: Any) -> Any:
        """A Dask collection of points computed on the cluster into this process (the plan
        needs every point's coordinates); anything else as it is."""
        if hasattr(points, "__dask_graph__"):
            return self.client.compute(points).result()
        return points

    def task_tiles(self, tiles: int) -> int:
        """Tiles per task: `cogdex.point-task-tiles` in Dask's config, else about
        `TASKS_PER_THREAD` tasks per worker thread, within `TASK_TILES`."""
        configured = dask.config.get("cogdex.point-task-tiles", None)
        if configured:
            return int(configured)
        threads = max(1, sum(self.client.nthreads().values()))
        lo, hi = TASK_TILES
        return min(hi, max(lo, math.ceil(tiles / (threads * TASKS_PER_THREAD))))

    def run_tasks(
        self, plan: PointPlan, store_options: Mapping[str, Any] | None, max_files: int
    ) -> list[TaskValues]:
        tasks = plan.tasks(self.task_tiles(len(plan.tiles)), max_files=max_files)
        if not tasks:
            return []
        run = uuid.uuid4().hex[:12]
        futures = []
        with secrets.shipped(self.client, store_options, "sample_points", ValueError) as (
            public,
            plugin,
        ):
            try:
                with warnings.catch_warnings():
                    # The graph holds the tasks' headers and point positions, so a lost task
                    # is rerun from it; Dask's advice for large graphs (scatter) loses that.
                    warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
                    futures = self.client.map(  # not pure: Dask would hash every array
                        _run_task,
                        tasks,
                        options=public,
                        plugin=plugin,
                        key=[f"cogdex-points-{run}-{i}" for i in range(len(tasks))],
                        retries=RETRIES,
                        pure=False,
                    )
                done = []
                for future in as_completed(futures, loop=self.client.loop):
                    result = future.result()  # a task's error, after its retries
                    if isinstance(result, CogdexError):
                        raise result
                    done.append(result)
                return done
            finally:
                self.client.cancel(futures)


@dataclass(frozen=True)
class SchedulerPointExecutor:
    """Reads a sampling call's tiles on the cluster whose scheduler listens at `address`,
    through a client connected for that step only (as a build's address does)."""

    address: str

    def local_points(self, points: Any) -> Any:
        if not hasattr(points, "__dask_graph__"):
            return points
        with connect(self.address, ConnectionError) as client:
            return DaskPointExecutor(client).local_points(points)

    def run_tasks(
        self, plan: PointPlan, store_options: Mapping[str, Any] | None, max_files: int
    ) -> list[TaskValues]:
        with connect(self.address, ConnectionError) as client:
            return DaskPointExecutor(client).run_tasks(plan, store_options, max_files)


def _run_task(
    task: PointTask, *, options: Mapping[str, Any] | None, plugin: str | None
) -> TaskValues | CogdexError:
    """On a worker: the task's values, its store options completed with the call's secrets."""
    try:
        return sample_task(task, secrets.complete(options, plugin))
    except CogdexError as exc:
        return exc


__all__ = ["DaskPointExecutor", "SchedulerPointExecutor", "executor_for"]
