"""Session-scoped fixtures that start real servers on 127.0.0.1, each on first use.

Every server starts at most once per session and stops at its end; logs stay under
`<pytest basetemp>/server-logs*` (the terminal summary names the folder). A server that cannot
start fails the test with the reason and its log, it never skips. The one fallback is
documented in the README: without nginx, `http_server` is the Python Range server.

Fixtures: `scenes` (synthetic COGs, metadata), `http_server`, `http_server_no_range`,
`fault_server`, `fault_coll`, `fast_uncached_reads`, `stac_files`, `stac_api`, `s3_server`,
`azure_server`, `azure_oauth_server`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cogdex
from cogdex.io import fetch, runtime
from cogdex.read import tilecache
from cogdex.testing import RangeServer
from tests.servers.azurite import AzureEmulator, start_azurite
from tests.servers.faults import FaultServer
from tests.servers.nginx import Nginx, start_nginx
from tests.servers.s3 import S3Emulator, start_s3
from tests.servers.scenes import SceneSet, StacFiles, make_scenes, write_stac
from tests.servers.stac_api import StacApi, start_stac_api

# Retries of `fast_uncached_reads`: at a 30% fault rate, 9 faults in a row on one GET happen
# about 2 times in 100,000.
FAULT_RETRIES = 8

_startup: dict[str, float] = {}
_log_dirs: list[Path] = []


def _timed[**P, T](name: str, start: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    t0 = time.perf_counter()
    value = start(*args, **kwargs)
    _startup[name] = time.perf_counter() - t0
    return value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _startup:
        times = ", ".join(f"{name} {s:.1f}s" for name, s in _startup.items())
        terminalreporter.write_line(f"test servers started: {times}")
    for folder in _log_dirs:
        terminalreporter.write_line(f"test server logs: {folder}")


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that holds every server's log, config and scratch files."""
    folder = tmp_path_factory.mktemp("server-logs")
    _log_dirs.append(folder)
    return folder


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> SceneSet:
    """8 synthetic Sentinel-2-like scenes (1024 px, two UTM zones) with their metadata."""
    root = tmp_path_factory.mktemp("data")
    return _timed("scenes", make_scenes, root)


@pytest.fixture(scope="session")
def http_server(scenes: SceneSet, server_logs: Path) -> Iterator[Nginx | RangeServer]:
    """`scenes.root` over HTTP with Range (206): nginx, or the Python server without it."""
    nginx = shutil.which("nginx")
    if nginx:
        server: Nginx | RangeServer = _timed("nginx", start_nginx, nginx, scenes.root, server_logs)
    else:
        server = RangeServer(scenes.root, server_logs / "http.log").start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def http_server_no_range(scenes: SceneSet, server_logs: Path) -> Iterator[RangeServer]:
    """`scenes.root` from a server that ignores Range: every GET is a 200 with the whole file."""
    server = RangeServer(scenes.root, server_logs / "http-no-range.log", honour_range=False)
    yield server.start()
    server.close()


@pytest.fixture(scope="session")
def _fault_server(scenes: SceneSet, server_logs: Path) -> Iterator[FaultServer]:
    server = FaultServer(scenes.root, server_logs / "faults.log").start()
    yield server
    server.close()


@pytest.fixture
def fault_server(_fault_server: FaultServer) -> FaultServer:
    """A Range server over `scenes.root` that fails on request (`inject`), with no plans and
    an empty request log at the start of each test (see tests/servers/faults.py).

    The GETs an earlier test's failed read left to finish (`runtime.settle`) land first: on
    a loaded machine they reached the server after the reset, in this test's log and
    plans (one more GET than a read makes)."""
    assert runtime.settle(60), "an earlier test's GETs are still in flight after 60 s"
    _fault_server.reset()
    return _fault_server


@pytest.fixture(scope="session")
def stac_files(scenes: SceneSet, http_server: Nginx | RangeServer) -> StacFiles:
    """items.json, collection.json and items.parquet in `scenes.root`, hrefs on `http_server`."""
    return write_stac(scenes, http_server.url)


@pytest.fixture(scope="session")
def fault_coll(stac_files: StacFiles, _fault_server: FaultServer, tmp_path_factory):
    """B04 and B08 of the scenes with hrefs on the fault server, built before any fault."""
    _fault_server.reset()
    return cogdex.build_from_stac(
        stac_files.items_json,
        name="faults",
        bands=["B04", "B08"],
        href_rewrites={stac_files.base_url: _fault_server.url},
        cache_dir=tmp_path_factory.mktemp("faults-cache"),
    )


@pytest.fixture
def fast_uncached_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every read goes to the server (no tile cache, no whole objects or Range-less origins
    kept from another test), with `FAULT_RETRIES` fast retries and a 30 s deadline that
    bounds a test that would hang; the settings come back after the test."""
    cache = tilecache.tile_cache()
    before_cache, before_fetch = cache.max_bytes, fetch.config()
    tilecache.configure_tile_cache(0)
    monkeypatch.setattr(fetch, "_whole", fetch._WholeObjects())
    fetch.configure(
        retries=FAULT_RETRIES, backoff=0.01, backoff_max=0.05, throttle_backoff=0.01, deadline=30
    )
    yield
    fetch.configure(**before_fetch.__dict__)
    cache.max_bytes = before_cache


@pytest.fixture(scope="session")
def stac_api(stac_files: StacFiles, server_logs: Path) -> Iterator[StacApi]:
    """stac-fastapi-geoparquet serving `stac_files` (collection "sentinel-2-l2a")."""
    api = _timed("stac-api", start_stac_api, stac_files.items_parquet, server_logs)
    yield api
    api.process.stop()


def _scene_files(scenes: SceneSet) -> dict[str, Path]:
    return {scenes.key(p): p for p in scenes.files()}


@pytest.fixture(scope="session")
def s3_server(scenes: SceneSet, server_logs: Path) -> Iterator[S3Emulator]:
    """moto S3 with every scene file in an anonymous-readable and a requester-pays bucket."""
    s3 = _timed("moto-s3", start_s3, server_logs, _scene_files(scenes))
    yield s3
    s3.process.stop()


@pytest.fixture(scope="session")
def azure_server(scenes: SceneSet, server_logs: Path) -> Iterator[AzureEmulator]:
    """Azurite with every scene file in a private and a public container."""
    azure = _timed("azurite", start_azurite, server_logs, _scene_files(scenes))
    yield azure
    azure.process.stop()


@pytest.fixture(scope="session")
def azure_oauth_server(scenes: SceneSet, server_logs: Path) -> Iterator[AzureEmulator]:
    """The same over HTTPS with Azure AD bearer tokens accepted (`azure.tls` holds the CA)."""
    azure = _timed("azurite-oauth", start_azurite, server_logs, _scene_files(scenes), oauth=True)
    yield azure
    azure.process.stop()
