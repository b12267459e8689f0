"""Index builds on a Dask cluster: each part of the build's items is a task that fetches
its headers and makes its rows on a worker; the driver merges the parts and writes.

What travels where:
- A task carries one `Part` (stored hrefs, items without their asset hrefs) and the
  store options' public part (`public_options`): no secret, no signed URL.
- The options' secrets go to the workers once per build (`cogdex_dask.secrets`), and are
  dropped when the build ends.
- A task returns its rows as Arrow (`PartRows`), not a Parquet fragment: the index keeps
  one order across all rows (year, then Hilbert order), so fragments would be read back and
  rewritten by the driver anyway, and the driver's cache folder is not the workers'. The
  driver writes the collection with core's atomic replace: a failed build leaves the
  previous collection as it was.

Parts run as tasks as `cogdex_dask.tasks` runs them: a part lost with its worker is run
again, one that raised is retried, and a cogdex error (a band map that does not fit the
first item) fails the build at once rather than after retries of what will fail again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from distributed import Client

from cogdex.sdk import BuildError, Part, PartRows, Plan, part_rows
from cogdex_dask.client import connect, is_address, resolve
from cogdex_dask.tasks import completed, task_size

PART_ITEMS = (16, 1024)
"""Items per part, at least (so each task fetches many headers at once) and at most."""


def executor_for(client: object) -> DaskExecutor | SchedulerExecutor | None:
    """The executor for a build's `client=`: a `Client`, "active" (the current one), or a
    scheduler's address ("tcp://host:8786"); None for anything else (another plugin may
    claim it)."""
    if is_address(client):
        return SchedulerExecutor(client)
    found = resolve(client, BuildError)
    return None if found is None else DaskExecutor(found)


@dataclass(frozen=True)
class DaskExecutor:
    """Runs a build's parts as tasks on `client`'s cluster (`cogdex.index.build.BuildExecutor`)."""

    client: Client

    def part_items(self, items: int) -> int:
        """Items per part: `cogdex.build-part-items` in Dask's config, else a few parts per
        worker thread, within `PART_ITEMS`."""
        return task_size(self.client, items, "cogdex.build-part-items", PART_ITEMS)

    def run_parts(
        self,
        plan: Plan,
        store_options: Mapping[str, Any] | None,
        progress: Callable[[int], None] | None,
    ) -> list[PartRows]:
        parts = plan.parts(self.part_items(len(plan.items)))
        done: dict[int, PartRows] = {}
        for i, rows in completed(
            self.client, part_rows, parts, name="headers", store_options=store_options,
            call="a build", refuse=BuildError,
        ):  # fmt: skip
            done[i] = rows
            if progress is not None:
                progress(_files(parts[i]))
        return [done[i] for i in range(len(parts))]


@dataclass(frozen=True)
class SchedulerExecutor:
    """Runs a build's parts on the cluster whose scheduler listens at `address`: a client
    connected for the parts' run only, so a build that finds its collection in the cache
    never connects (the `client=` of `cogdex collections build --dask ADDRESS`)."""

    address: str

    def run_parts(
        self,
        plan: Plan,
        store_options: Mapping[str, Any] | None,
        progress: Callable[[int], None] | None,
    ) -> list[PartRows]:
        with connect(self.address, BuildError) as client:
            return DaskExecutor(client).run_parts(plan, store_options, progress)


def _files(part: Part) -> int:
    return len({h for row in part.hrefs for h in row if h is not None})
