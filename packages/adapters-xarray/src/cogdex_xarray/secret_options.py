"""Secret store options of lazy reads: held by name, never put into a Dask graph.

A chunk's task carries the store options' public part and the name of the rest. The name
resolves in the process that made the Dataset (the threaded scheduler runs there) and, on
a `dask.distributed` cluster, on every worker: when a client is current as the Dataset is
made, the secrets go to the workers once as a worker plugin of that name (the scheduler
re-sends it to a worker that replaces a lost one), as the Dask index build sends its own.
Better still, workers have credentials of their own and the options hold none.

Lifetime: each lazy Dataset holds a `Lease` on its name (every chunk task of its graph
refers to it, so arrays derived from the Dataset hold it too). When the last lease of a name
ends (`Dataset.close()`, or the Dataset and its graph are garbage), a janitor thread drops
the options here and, once the client waits for no future and the cluster has no task
left to run (a persisted result may still be computing), unregisters the worker plugin. A
persisted result whose worker is lost after that is computed again without the secrets,
which raises `StoreError`: keep the Dataset while its persisted results are in use.
Finalizers only queue the name: they may run in any thread, inside any lock.

A `credential_provider` object cannot be pickled to a worker: a Dataset that holds one
computes in this process only (the threaded scheduler). On a cluster it raises the same
`StoreError`, at `get_xarray` when a client is current, else when a worker runs a chunk.
"""

from __future__ import annotations

import queue
import sys
import threading
import uuid
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cogdex.sdk import StoreError

PROVIDER = "credential_provider"
_PREFIX = "cogdex-read-secrets-"
_LOCAL = "cogdex-read-local-"  # names whose options hold a credential_provider object
REFUSED = (
    "a lazy read on a Dask cluster creates its stores on the workers from plain store "
    "options: a credential_provider object cannot go there; compute this Dataset without a "
    "distributed client (the threaded scheduler), give the credentials as options, or let "
    "the workers find their own (environment, instance role)"
)


@dataclass
class _Held:
    options: dict[str, Any]
    leases: int = 0
    clients: list[Any] = field(default_factory=list)
    """The distributed clients whose workers were sent these options as a worker plugin."""


_lock = threading.Lock()
_held: dict[str, _Held] = {}
_ended: queue.SimpleQueue[str] = queue.SimpleQueue()  # reentrant: safe in finalizers
_janitor: threading.Thread | None = None


class Lease(str):
    """The name of held secret options (a `str`: what a task pickles is the name alone),
    keeping them held until `release()` or until this object is garbage."""

    _end: weakref.finalize

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (str(self),))


def release(lease: str) -> None:
    """End `lease` now (idempotent): a lazy Dataset's `close`. A plain name (a lease pickled
    with the Dataset's structure to another process) holds nothing there."""
    if isinstance(lease, Lease):
        lease._end()


def hold(options: Mapping[str, Any]) -> Lease:
    """A lease on these secret options, held from now on in this process and, if a
    distributed client is current, on its workers. Thread-safe."""
    options = dict(options)
    client = _current_client()
    if client is not None and PROVIDER in options:
        raise StoreError(REFUSED)
    with _lock:
        name = next((n for n, h in _held.items() if h.options == options), None)
        if name is None:
            name = f"{_LOCAL if PROVIDER in options else _PREFIX}{uuid.uuid4().hex[:12]}"
            _held[name] = _Held(options)
        entry = _held[name]
        if client is not None and not any(c is client for c in entry.clients):
            from cogdex_xarray.cluster import send_secrets

            send_secrets(client, name, options)
            entry.clients.append(client)
        entry.leases += 1
        _start_janitor()
    lease = Lease(name)
    lease._end = weakref.finalize(lease, _ended.put, name)
    lease._end.atexit = False
    return lease


def held(name: str) -> dict[str, Any]:
    """The secret options of `name`, in this process or on this Dask worker."""
    entry = _held.get(name)
    options = None if entry is None else entry.options
    if options is None and "distributed" in sys.modules:
        from cogdex_xarray.cluster import worker_secrets

        options = worker_secrets(name)
    if options is None and name.startswith(_LOCAL):
        raise StoreError(REFUSED)
    if options is None:
        raise StoreError(
            "this chunk's store options hold secrets that are not held in this process: the "
            "Dataset was closed, or it was made with no Dask client current; make the client "
            "current (`with client.as_current():` or `Client(...)` as the default) before "
            "`get_xarray(..., chunks=...)`, or give the workers credentials of their own"
        )
    return options


def names() -> list[str]:
    """The names held in this process now."""
    with _lock:
        return list(_held)


def _start_janitor() -> None:
    global _janitor
    if _janitor is None or not _janitor.is_alive():
        _janitor = threading.Thread(target=_sweep, name="cogdex-read-secrets", daemon=True)
        _janitor.start()


def _sweep() -> None:
    """Forever: end the leases that finalizers queued; a name whose last lease ended is
    dropped here at once and from each cluster once that cluster has nothing left to run."""
    retiring: list[tuple[Any, str]] = []
    while True:
        try:
            name = _ended.get(timeout=0.2 if retiring else None)
        except queue.Empty:
            pass
        else:
            with _lock:
                entry = _held[name]
                entry.leases -= 1
                if entry.leases == 0:
                    del _held[name]
                    retiring += [(client, name) for client in entry.clients]
        retiring = [(c, n) for c, n in retiring if not _retired(c, n)]


def _retired(client: Any, name: str) -> bool:
    """Whether `name` is off `client`'s workers now (or can never be taken off: the client
    is closed); False while the cluster still has tasks to run, which may be this name's."""
    from cogdex_xarray.cluster import busy, unregister

    if client.status != "running":
        return True
    try:
        if busy(client):
            return False
        unregister(client, name)
    except Exception as exc:
        warnings.warn(
            f"the Dask workers still hold a lazy read's store secrets (worker plugin {name}) "
            f"until they restart: removing it failed ({type(exc).__name__})",
            RuntimeWarning,
            stacklevel=1,
        )
    return True


def _current_client() -> Any:
    """The current `distributed.Client`, None without one (distributed never imported:
    no client can exist)."""
    if "distributed" not in sys.modules:
        return None
    from cogdex_xarray.cluster import current_client

    return current_client()
