"""The plugin system: entry points, the CLI listing, third-party extensibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from cogdex import plugins
from cogdex.cli import main
from cogdex.datasets import DatasetEntry, StacSource
from cogdex.errors import CogdexError, UnknownDatasetError
from cogdex.hookspecs import hookimpl

BUILTIN = {"aws", "azure", "catalog", "earthdata", "torchgeo", "xarray"}


def test_all_plugins_load_from_entry_points():
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert BUILTIN <= set(infos)
    for name in BUILTIN:
        assert infos[name].distribution.startswith("cogdex-")
        assert infos[name].version
        assert infos[name].provides, name


def test_cli_plugins_lists_six_builtin(capsys):
    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert BUILTIN <= set(listed)
    assert "cogdex_datasets" in listed["catalog"]["hooks"]
    assert "cogdex_store_spec" in listed["aws"]["hooks"]
    assert "cogdex_adapters" in listed["torchgeo"]["hooks"]


def test_console_script_runs_in_a_fresh_process():
    out = subprocess.run(
        [sys.executable, "-m", "cogdex.cli", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    for name in BUILTIN:
        assert name in out


def test_third_party_plugin_package_is_seen_by_datasets_list(capsys):
    # tests/plugins/example is its own distribution, installed as a workspace member.
    assert main(["datasets", "list", "--json"]) == 0
    ids = {d["id"] for d in json.loads(capsys.readouterr().out)}
    assert "example/field-survey" in ids
    assert "earthsearch/sentinel-2-l2a" in ids


class _InProcess:
    @hookimpl
    def cogdex_datasets(self):
        return [
            DatasetEntry(
                id="inproc/demo",
                name="registered in-process",
                description="",
                source=StacSource("http://127.0.0.1:1/", "x"),
                license="CC0-1.0",
                commercial_use=False,
                coverage="-",
            )
        ]


def test_in_process_registration_and_commercial_filter(capsys):
    plugin = _InProcess()
    plugins.register(plugin, name="inproc")
    try:
        assert plugins.dataset("inproc/demo").name == "registered in-process"
        main(["datasets", "list", "--commercial-only"])
        assert "inproc/demo" not in capsys.readouterr().out
        main(["datasets", "list"])
        assert "inproc/demo" in capsys.readouterr().out
    finally:
        plugins.unregister(plugin)
    with pytest.raises(UnknownDatasetError):
        plugins.dataset("inproc/demo")


def test_duplicate_dataset_ids_are_reported_with_both_plugins():
    naip = plugins.dataset("earthsearch/naip")

    class Dup:
        @hookimpl
        def cogdex_datasets(self):
            return [naip]

    dup = Dup()
    plugins.register(dup, name="dup")
    try:
        with pytest.raises(CogdexError, match="dup"):
            plugins.datasets()
    finally:
        plugins.unregister(dup)


def test_unknown_dataset_suggests_close_ids(capsys):
    with pytest.raises(UnknownDatasetError, match="did you mean earthsearch/naip"):
        plugins.dataset("earthsearch/naipp")
    assert main(["datasets", "info", "earthsearch/naipp"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cogdex: error: unknown dataset") and "Traceback" not in err


def test_catalog_ships_the_seed_list():
    ids = {d.id for d in plugins.datasets()}
    seed = {
        "aef/v1-annual", "earthsearch/sentinel-2-l2a", "earthsearch/landsat-c2-l2",
        "earthsearch/naip", "earthsearch/cop-dem-glo-30", "earthsearch/cop-dem-glo-90",
        "pc/sentinel-2-l2a", "pc/io-lulc-annual-v02", "pc/alos-dem", "pc/nasadem",
        "pc/esa-worldcover", "pc/usda-cdl",
    }  # fmt: skip
    assert seed <= ids
    naip = plugins.dataset("earthsearch/naip")
    assert naip.requester_pays and naip.cloud == "aws" and naip.band_index["NIR"] == 3


_LIST_PLUGINS = """
import json, sys
from cogdex import plugins
names = [name for name, *_ in plugins.entry_points()]
print(json.dumps({"names": names, "scanned": "importlib.metadata" in sys.modules}))
"""


def _list_plugins(site: Path, script_dir: Path, cache: Path, python: str = sys.executable) -> dict:
    """Entry points as a fresh process of `python` run from `script_dir` sees them, with
    `site` (named like an install folder) on PYTHONPATH, and whether it scanned the
    distributions."""
    script = script_dir / "list_plugins.py"
    script.write_text(_LIST_PLUGINS)
    env = {**os.environ, "PYTHONPATH": str(site), "COGDEX_CACHE_DIR": str(cache)}
    out = subprocess.run([python, str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _install(site: Path, name: str) -> None:
    """A distribution with one `cogdex` entry point, laid out as installers do."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[cogdex]\n{name} = {name}\n")
    (site / f"{name}.py").write_text("")


def test_entry_point_cache_follows_installs_not_the_scripts_folder(tmp_path: Path) -> None:
    site, work, cache = tmp_path / "site-packages", tmp_path / "work", tmp_path / "cache"
    site.mkdir()
    work.mkdir()
    _install(site, "first_plugin")
    found = _list_plugins(site, work, cache)
    assert found["scanned"] and "first_plugin" in found["names"]
    (work / "output.csv").write_text("a notebook writing next to itself")
    again = _list_plugins(site, work, cache)
    assert not again["scanned"] and again["names"] == found["names"]  # the cache held
    _install(site, "second_plugin")
    after = _list_plugins(site, work, cache)
    assert after["scanned"] and {"first_plugin", "second_plugin"} <= set(after["names"])


def test_entry_point_caches_of_two_interpreters_do_not_evict_each_other(tmp_path: Path) -> None:
    """Two environments used in turn each keep their cache: one shared file made every
    process of the other scan the distributions again. The second environment is a venv
    whose site-packages is this one's, so only `sys.executable` tells them apart."""
    site, work, cache = tmp_path / "site-packages", tmp_path / "work", tmp_path / "cache"
    site.mkdir()
    work.mkdir()
    _install(site, "first_plugin")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text((Path(sys.prefix) / "pyvenv.cfg").read_text())
    lib = Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    (venv / lib).parent.mkdir(parents=True)
    (venv / lib).symlink_to(sysconfig.get_path("purelib"))
    other = venv / "bin" / "python"
    other.symlink_to(os.path.realpath(sys.executable))
    assert _list_plugins(site, work, cache)["scanned"]
    assert _list_plugins(site, work, cache, str(other))["scanned"]
    for python in (sys.executable, str(other)):
        assert not _list_plugins(site, work, cache, python)["scanned"]


def test_version_has_one_source() -> None:
    """The build backend and `cogdex.__version__` read the same file."""
    from importlib.metadata import version

    import cogdex

    assert cogdex.__version__ == version("cogdex-core")


_MANAGERS_AT_ONCE = """
import threading
from cogdex import plugins

start = threading.Barrier(4)
found = []

def ask():
    start.wait()
    found.append(plugins.plugin_manager())

threads = [threading.Thread(target=ask) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len({id(pm) for pm in found}), len(found))
"""


def test_threads_asking_for_the_manager_at_once_share_one() -> None:
    """Threads that ask first together (a DataLoader's, an app's) load the plugins once,
    into one manager."""
    out = subprocess.run([sys.executable, "-c", _MANAGERS_AT_ONCE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "4"]
