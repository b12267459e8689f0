"""`sample_points` on a Dask cluster: the caller plans, workers read tiles, the caller assembles.

The caller's process plans the call as a local one does (which tile of which file each
point needs, from the index: no I/O) and cuts the plan into tasks by tile (core's
`PointPlan.tasks`): every tile is in exactly one task, so it is fetched and decoded once
cluster-wide, and a file's tiles stay together so a worker fetches them in coalesced
requests. A task carries the files' parsed headers, the points' positions in their tiles
and the store options' public part; secrets travel as in builds (`cogdex_dask.secrets`).
Workers return the gathered values, which core puts in place: the result is the local
call's, row for row.

Tasks run as `cogdex_dask.tasks` runs them: a task lost with its worker is run again, one
that raised is retried, and a cogdex error (a file that is gone, a tile that does not
decode) is raised at once, as the local call raises it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributed import Client

from cogdex.sdk import PointPlan, TaskValues, sample_task
from cogdex_dask.client import connect, is_address, resolve
from cogdex_dask.tasks import completed, task_size

TASK_TILES = (4, 256)
"""Tiles per task, at least (so a task's fetch and decode outweigh its scheduling) and at most."""


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
        """Tiles per task: `cogdex.point-task-tiles` in Dask's config, else a few tasks per
        worker thread, within `TASK_TILES`."""
        return task_size(self.client, tiles, "cogdex.point-task-tiles", TASK_TILES)

    def run_tasks(
        self, plan: PointPlan, store_options: Mapping[str, Any] | None, max_files: int
    ) -> list[TaskValues]:
        tasks = plan.tasks(self.task_tiles(len(plan.tiles)), max_files=max_files)
        return [
            values
            for _, values in completed(
                self.client, sample_task, tasks, name="points", store_options=store_options,
                call="sample_points", refuse=ValueError,
            )
        ]  # fmt: skip


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


__all__ = ["DaskPointExecutor", "SchedulerPointExecutor", "executor_for"]
