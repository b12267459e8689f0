"""`cogdex collections build --dask ADDRESS`: the build's `client=` as a scheduler address,
which cogdex-dask connects for the build's parts and closes after; the collection is the
local build's; a cached one needs no cluster; a wrong or unreachable address is one line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import dask.config
import pytest
from distributed import Client, SchedulerPlugin

from cogdex.cli import main
from cogdex_dask.build import SchedulerExecutor, executor_for
from tests.servers.scenes import StacFiles


class GraphKeys(SchedulerPlugin):
    """The keys of every task the scheduler is given."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def update_graph(self, scheduler: Any, *, tasks: list[Any], **kwargs: Any) -> None:
        self.keys += [str(key) for key in tasks]


def _build(stac_files: StacFiles, cache: Path, *extra: str) -> list[str]:
    return [
        "collections", "build", "--stac", str(stac_files.items_json), "--name", "cli-dask",
        "--bands", "B04,B08", "--cache-dir", str(cache), *extra,
    ]  # fmt: skip


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_builds_on_the_cluster_at_an_address(
    dask_client: Client, stac_files: StacFiles, tmp_path: Path, capsys
):
    scheduler = dask_client.cluster.scheduler  # in this process
    dask_client.register_plugin(GraphKeys(), name="graph-keys")
    clients_before = set(scheduler.clients)
    try:
        code = main(_build(stac_files, tmp_path / "d", "--dask", scheduler.address))
        keys = scheduler.plugins["graph-keys"].keys
    finally:
        dask_client.unregister_scheduler_plugin("graph-keys")
    out = capsys.readouterr().out
    assert code == 0 and "8 records" in out, out
    assert keys and all(k.startswith("cogdex-headers-") for k in keys)  # the parts ran there
    assert set(scheduler.clients) == clients_before  # the build's client is gone

    assert main(_build(stac_files, tmp_path / "l")) == 0  # the same build, locally
    files = [next((tmp_path / c).rglob("*.parquet")) for c in ("d", "l")]
    assert files[0].read_bytes() == files[1].read_bytes()


def test_cli_address_errors_and_cache(stac_files: StacFiles, tmp_path: Path, capsys):
    cache = tmp_path / "cache"
    nowhere = f"tcp://127.0.0.1:{_closed_port()}"
    assert main(_build(stac_files, cache)) == 0
    capsys.readouterr()
    # Cached: loaded without connecting to the cluster.
    assert main(_build(stac_files, cache, "--dask", nowhere)) == 0
    assert "saved to" in capsys.readouterr().out

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(_build(stac_files, cache, "--dask", nowhere, "--force"))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"cogdex: error: cannot reach the Dask scheduler at {nowhere}")

    code = main(_build(stac_files, cache, "--dask", "scheduler:8786", "--force"))
    err = capsys.readouterr().err
    assert code == 1 and "a scheduler address ('tcp://host:8786')" in err, err
    assert "'scheduler:8786'" in err


@pytest.mark.parametrize("address", ["tcp://10.0.0.1:8786", "tls://s:8786", "ws://s:8787"])
def test_addresses_are_recognised(address: str):
    assert executor_for(address) == SchedulerExecutor(address)  # connects only to build
    assert executor_for("host:8786") is None and executor_for("foo://x") is None
