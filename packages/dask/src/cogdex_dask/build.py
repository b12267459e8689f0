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

A part lost with its worker is run again by the scheduler (`distributed.scheduler.allowed-
failures` times); a part that raises is retried `RETRIES` times. A part that raises a
cogdex error (a band map that does not fit the first item) returns it instead, so that the
build fails at once rather than after retries of what will fail again.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dask.config
from distributed import Client, as_completed

from cogdex.sdk import BuildError, CogdexError, Part, PartRows, Plan, part_rows
from cogdex_dask import secrets
from cogdex_dask.client import connect, is_address, resolve

PARTS_PER_THREAD = 4
"""Parts per worker thread: enough that a slow or lost part does not hold the build up."""
PART_ITEMS = (16, 1024)
"""Items per part, at least (so each task fetches many headers at once) and at most."""
RETRIES = 2
"""How often a part that raised is run again."""


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
        """Items per part: `cogdex.build-part-items` in Dask's config, else about
        `PARTS_PER_THREAD` parts per worker thread, within `PART_ITEMS`."""
        configured = dask.config.get("cogdex.build-part-items", None)
        if configured:
            return int(configured)
        threads = max(1, sum(self.client.nthreads().values()))
        lo, hi = PART_ITEMS
        return min(hi, max(lo, math.ceil(items / (threads * PARTS_PER_THREAD))))

    def run_parts(
        self,
        plan: Plan,
        store_options: Mapping[str, Any] | None,
        progress: Callable[[int], None] | None,
    ) -> list[PartRows]:
        parts = plan.parts(self.part_items(len(plan.items)))
        run = uuid.uuid4().hex[:12]
        keys = [f"cogdex-headers-{run}-{i}" for i in range(len(parts))]
        files = {key: _files(part) for key, part in zip(keys, parts, strict=True)}
        futures = []
        with secrets.shipped(self.client, store_options, "a build", BuildError) as (public, plugin):
            try:
                with warnings.catch_warnings():
                    # The graph holds the items (about 1.3 KB each), which is the point: a lost
                    # part is rerun from it; Dask's advice for large graphs (scatter) loses that.
                    warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
                    futures = self.client.map(  # not pure: Dask would hash every item of every part
                        _run_part,
                        parts,
                        options=public,
                        plugin=plugin,
                        key=keys,
                        retries=RETRIES,
                        pure=False,
                    )
                done: dict[str, PartRows] = {}
                for future in as_completed(futures, loop=self.client.loop):
                    result = future.result()  # a part's error, after its retries
                    if isinstance(result, CogdexError):
                        raise result
                    done[future.key] = result
                    if progress is not None:
                        progress(files[future.key])
                return [done[key] for key in keys]
            finally:
                self.client.cancel(futures)


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


def _run_part(
    part: Part, *, options: Mapping[str, Any] | None, plugin: str | None
) -> PartRows | CogdexError:
    """On a worker: the part's rows, its store options completed with the build's secrets."""
    try:
        return part_rows(part, secrets.complete(options, plugin))
    except CogdexError as exc:
        return exc
