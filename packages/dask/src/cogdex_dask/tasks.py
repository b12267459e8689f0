"""A call's pieces as tasks on a Dask cluster: what builds and point sampling share.

Each piece runs as `work(piece, options)` on a worker. The graph holds the pieces and the
store options' public part; the secrets reach the workers apart (`cogdex_dask.secrets`). A
task lost with its worker is run again by the scheduler; one that raised is retried
`RETRIES` times, except for a cogdex error (a file that is gone, a tile that does not
decode), which comes back as the task's value and is raised at once: it would fail again.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dask.config
from distributed import Client, as_completed

from cogdex.sdk import CogdexError
from cogdex_dask import secrets

RETRIES = 2
"""How often a task that raised is run again."""
PER_THREAD = 4
"""Tasks per worker thread: enough that a slow or lost task does not hold the call up."""


def task_size(client: Client, units: int, setting: str, bounds: tuple[int, int]) -> int:
    """Units (items, tiles) per task: Dask's config `setting` where set, else about
    `PER_THREAD` tasks per worker thread, within `bounds`."""
    configured = dask.config.get(setting, None)
    if configured:
        return int(configured)
    threads = max(1, sum(client.nthreads().values()))
    lo, hi = bounds
    return min(hi, max(lo, math.ceil(units / (threads * PER_THREAD))))


def completed[P, R](
    client: Client,
    work: Callable[[P, Mapping[str, Any] | None], R],
    pieces: Sequence[P],
    *,
    name: str,
    store_options: Mapping[str, Any] | None,
    call: str,
    refuse: type[Exception],
) -> Iterator[tuple[int, R]]:
    """(position in `pieces`, value) of each task as it finishes; a cogdex error is raised.
    Tasks are keyed `cogdex-<name>-<run>-<position>`; those still running are cancelled
    when the iteration ends or fails. `call` and `refuse` name the call and its error for
    store options that cannot go to a cluster (`secrets.shipped`)."""
    run = uuid.uuid4().hex[:12]
    keys = [f"cogdex-{name}-{run}-{i}" for i in range(len(pieces))]
    position = {key: i for i, key in enumerate(keys)}
    futures = []
    with secrets.shipped(client, store_options, call, refuse) as (public, plugin):
        try:
            with warnings.catch_warnings():
                # The graph holds the pieces, which is the point: a lost task is rerun from
                # it; Dask's advice for large graphs (scatter) loses that.
                warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
                futures = client.map(  # not pure: Dask would hash every array of every piece
                    _on_worker,
                    pieces,
                    work=work,
                    options=public,
                    plugin=plugin,
                    key=keys,
                    retries=RETRIES,
                    pure=False,
                )
            for future in as_completed(futures, loop=client.loop):
                result = future.result()  # a task's error, after its retries
                if isinstance(result, CogdexError):
                    raise result
                yield position[future.key], result
        finally:
            client.cancel(futures)


def _on_worker(
    piece: Any, *, work: Callable[..., Any], options: Mapping[str, Any] | None, plugin: str | None
) -> Any:
    """On a worker: the piece's value, its store options completed with the call's secrets."""
    try:
        return work(piece, secrets.complete(options, plugin))
    except CogdexError as exc:
        return exc


__all__ = ["RETRIES", "completed", "task_size"]
