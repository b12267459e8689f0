"""The per-process runtime: sync facade in and out of event loops, and reads after fork()."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os

import pytest

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
