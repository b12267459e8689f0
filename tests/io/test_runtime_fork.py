"""The per-process runtime: sync facade in and out of event loops, reads after fork(), and
obstore errors classified in a forked child that reads through a private copy of obstore."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import typing

import obstore.exceptions
import pytest

from cogdex.errors import AccessDeniedError, CogdexError, NotFoundError
from cogdex.io import fetch, runtime


@pytest.fixture(scope="module")
def blob(tmp_path_factory) -> tuple[str, bytes]:
    data = os.urandom(300_000)
    path = tmp_path_factory.mktemp("blob") / "blob.bin"
    path.write_bytes(data)
    return str(path), data


def _read(path: str) -> bytes:
    parts = runtime.run(fetch.read_ranges(path, [(10, 20), (250_000, 250_100)]))
    return b"".join(bytes(p) for p in parts)


def test_sync_facade_works_inside_a_running_loop(blob):
    path, data = blob

    async def notebook_cell() -> bytes:  # a Jupyter cell runs inside a running loop
        return _read(path)

    assert asyncio.run(notebook_cell()) == data[10:20] + data[250_000:250_100]


def test_sync_facade_refuses_to_deadlock_on_its_own_loop(blob):
    path, _ = blob

    async def nested() -> None:
        _read(path)

    with pytest.raises(RuntimeError, match="own event loop"):
        runtime.run(nested())


def _child(path: str, queue) -> None:
    queue.put(_read(path))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_reads_work_in_child_processes_after_the_parent_read(blob, method):
    path, data = blob
    assert _read(path) == data[10:20] + data[250_000:250_100]  # parent's runtime is now live
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(path, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == [data[10:20] + data[250_000:250_100]] * 2


def _classified(url: str, obstore_class: str | None, queue) -> None:
    """Put the private-copy flag, the cogdex error a read of `url` raises, and whether the
    obstore error under it is seen as `obstore_class` (None: the builtin not-found)."""
    try:
        runtime.run(fetch.read_ranges(url, [(0, 10)]))
        queue.put((runtime._inherited_obstore, None, False))
    except CogdexError as exc:
        cause = exc.__cause__
        assert cause is not None
        seen = (
            runtime.is_obstore_error(cause, obstore_class)
            if obstore_class
            else fetch.is_not_found(cause)
        )
        queue.put((runtime._inherited_obstore, type(exc).__name__, seen))


@pytest.mark.parametrize(
    ("fault", "error", "obstore_class"),
    [
        ("404", NotFoundError, None),
        ("403", AccessDeniedError, "PermissionDeniedError"),
        ("401", AccessDeniedError, "UnauthenticatedError"),
    ],
)
def test_a_forked_child_classifies_obstore_errors_like_its_parent(
    blob, fault_server, fault, error, obstore_class
):
    """The child's obstore exceptions are its private copy's classes, not the public ones,
    and are still told apart by class, not only by the status in their message."""
    path, _ = blob
    _read(path)  # the parent's obstore is loaded and its runtime live
    url = f"{fault_server.url}/scenes/{fault}.tif"
    fault_server.inject(f"/scenes/{fault}.tif", [fault, fault])
    with pytest.raises(error):
        runtime.run(fetch.read_ranges(url, [(0, 10)]))
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_classified, args=(url, obstore_class, queue))
    child.start()
    assert queue.get(timeout=60) == (True, error.__name__, True)
    child.join(timeout=30)
    assert child.exitcode == 0


def test_the_obstore_errors_cogdex_tells_apart_still_exist():
    for name in typing.get_args(runtime.ObstoreErrorName):
        assert issubclass(getattr(obstore.exceptions, name), obstore.exceptions.BaseError)
