"""The plugin manager: loads entry points once per process and answers the hooks.

Finding entry points means reading the metadata of every installed distribution (~70 ms in
a data-science environment, paid by every short-lived job), so the list is cached on disk,
keyed by the interpreter, the install folders on `sys.path` and the modification times of
the folders that hold distributions: installing or removing one changes its folder's time,
which invalidates the cache. Other `sys.path` folders (a script's or notebook's own, whose
times change with every file written there) do not take part, so a distribution placed in a
folder that held none and is not a site-packages (`pip install --target` into a
`PYTHONPATH` folder) is found once the cache file, `entry-points-<interpreter>.json` in the
cache folder, is removed. Each interpreter has its own file: with one shared file, two
environments used in turn (a project's venv and a notebook kernel's) would overwrite each
other's entry and every process would scan again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pluggy

from cogdex import hookspecs
from cogdex.errors import BuildError, CogdexError, MissingPluginError, UnknownDatasetError

if TYPE_CHECKING:
    from cogdex.adapters import OutputAdapter
    from cogdex.datasets import DatasetEntry
    from cogdex.index.build import BuildExecutor
    from cogdex.io.stores import StoreSpec
    from cogdex.io.urls import ObjectURL
    from cogdex.read.points import PointExecutor


EntryPoint = tuple[str, str, str, str]
"""(name, "module:attr", distribution, version)."""

_distributions: dict[str, tuple[str, str]] = {}


_INSTALL_FOLDERS = ("site-packages", "dist-packages")


def _install_folders() -> list[str]:
    """The `sys.path` folders that installers write distributions into."""
    return [p for p in sys.path if os.path.basename(os.path.normpath(p)) in _INSTALL_FOLDERS]


def _times(folders: list[str]) -> dict[str, int | None]:
    times: dict[str, int | None] = {}
    for folder in folders:
        try:
            times[folder] = os.stat(folder).st_mtime_ns
        except OSError:
            times[folder] = None
    return times


def _cache_file() -> str:
    from cogdex.cachedir import cache_root

    interpreter = hashlib.sha256(sys.executable.encode()).hexdigest()[:16]
    return str(cache_root() / f"entry-points-{interpreter}.json")


def _scan() -> tuple[list[EntryPoint], list[str]]:
    """The `cogdex` entry points of every distribution, and the folders holding them all."""
    from importlib.metadata import distributions

    found: dict[str, EntryPoint] = {}
    folders: set[str] = set()
    for dist in distributions():
        folders.add(str(dist.locate_file("")))
        for ep in dist.entry_points:
            if ep.group == hookspecs.PROJECT:
                found.setdefault(ep.name, (ep.name, ep.value, dist.metadata["name"], dist.version))
    return sorted(found.values()), sorted(folders)


def entry_points() -> list[EntryPoint]:
    """The installed `cogdex` entry points (from the on-disk cache when still valid)."""
    path = _cache_file()
    installs = _install_folders()
    try:
        with open(path) as f:
            cached = json.load(f)
        if (
            cached["executable"] == sys.executable
            and cached["installs"] == installs
            and cached["folders"] == _times(list(cached["folders"]))
        ):
            return [tuple(e) for e in cached["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found, folders = _scan()
    entry = {
        "executable": sys.executable,
        "installs": installs,
        "folders": _times(sorted({*folders, *installs})),
        "entry_points": found,
    }
    try:  # best effort: a read-only cache folder only costs the scan next time
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, path)
    except OSError:
        pass
    return found


def _load(value: str) -> object:
    module, _, attr = value.partition(":")
    obj: object = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


_manager: pluggy.PluginManager | None = None
_manager_lock = threading.RLock()  # a plugin's import may ask for the manager again


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, with every installed `cogdex` entry point loaded (once,
    also when threads ask for it at the same time)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = _new_manager()
    return _manager


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name, value, dist, version in entry_points():
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        plugin = _load(value)
        pm.register(plugin, name=name)
        _distributions[name] = (dist, version)
    return pm


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object in this process (tests, notebooks, embedded apps)."""
    plugin_manager().register(plugin, name=name)
    _clear_caches()


def unregister(plugin: object) -> None:
    """Undo `register`."""
    plugin_manager().unregister(plugin)
    _clear_caches()


def loaded(name: str) -> bool:
    """Whether a plugin of that name is registered (installed and not blocked): cloud
    plugins are registered under the name of their extra (`aws`, `azure`, `earthdata`)."""
    return plugin_manager().get_plugin(name) is not None


def _clear_caches() -> None:
    _datasets.cache_clear()
    _adapters.cache_clear()


@dataclass(frozen=True)
class PluginInfo:
    """What `cogdex plugins` shows for one loaded plugin."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    provides: tuple[str, ...]


def plugin_infos() -> list[PluginInfo]:
    """Every loaded plugin, with its distribution, version and what it provides."""
    pm = plugin_manager()
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        impls = {
            caller.name: impl
            for caller in pm.get_hookcallers(plugin) or ()
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin
        }
        hooks = tuple(sorted(impls))
        provides: list[str] = []
        if "cogdex_datasets" in hooks:
            ids = sorted(
                e.id for e in _results(hookspecs.cogdex_datasets, impls["cogdex_datasets"])
            )
            provides.append(f"{len(ids)} dataset{'s' * (len(ids) != 1)}: {', '.join(ids)}")
        if "cogdex_store_spec" in hooks:
            provides.append("store/credentials: " + (plugin.__doc__ or "").strip().split("\n")[0])
        if "cogdex_build_executor" in hooks:
            provides.append("builds on a cluster: " + (plugin.__doc__ or "").strip().split("\n")[0])
        if "cogdex_point_executor" in hooks:
            provides.append(
                "point sampling on a cluster: " + (plugin.__doc__ or "").strip().split("\n")[0]
            )
        if "cogdex_adapters" in hooks:
            adapters = _results(hookspecs.cogdex_adapters, impls["cogdex_adapters"])
            provides.append("outputs: " + ", ".join(a.name for a in adapters))
        dist, version = _distributions.get(name, ("(in-process)", ""))
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist,
                version=version,
                hooks=hooks,
                provides=tuple(provides),
            )
        )
    return sorted(infos, key=lambda i: i.name)


def _results[R](spec: Callable[[], R], impl: pluggy.HookImpl) -> R:
    """Call one plugin's implementation of a hook without arguments. pluggy checks the
    argument names only and types every result as `object`; the spec says what it returns."""
    return cast("R", impl.function())


@functools.cache
def _datasets() -> dict[str, tuple[DatasetEntry, str]]:
    pm = plugin_manager()
    found: dict[str, tuple[DatasetEntry, str]] = {}
    for impl in pm.hook.cogdex_datasets.get_hookimpls():
        for entry in _results(hookspecs.cogdex_datasets, impl):
            if entry.id in found:
                other = found[entry.id][1]
                raise CogdexError(
                    f"dataset {entry.id!r} is provided by two plugins: {other!r} and "
                    f"{impl.plugin_name!r}; uninstall one of them"
                )
            found[entry.id] = (entry, impl.plugin_name)
    return dict(sorted(found.items()))


def datasets() -> list[DatasetEntry]:
    """All catalog entries from all plugins, sorted by ID."""
    return [entry for entry, _ in _datasets().values()]


def dataset(dataset_id: str) -> DatasetEntry:
    """The catalog entry `dataset_id`; `UnknownDatasetError` lists the close matches."""
    found = _datasets()
    if dataset_id in found:
        return found[dataset_id][0]
    import difflib

    close = difflib.get_close_matches(dataset_id, list(found), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `cogdex datasets list`"
    raise UnknownDatasetError(f"unknown dataset {dataset_id!r}{hint}")


def store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    """The first plugin answer for `url`, or None when no plugin claims it."""
    return plugin_manager().hook.cogdex_store_spec(url=url, options=options)


def build_executor(client: object) -> BuildExecutor:
    """Where a build with `client=` fetches its headers: the first plugin that claims the
    client. `MissingPluginError` (naming the `dask` extra) when no plugin runs builds on a
    cluster, `BuildError` when none takes this kind of client."""
    executor: BuildExecutor = _claimed(
        plugin_manager().hook.cogdex_build_executor,
        client,
        "client= (an index build on a cluster)",
        BuildError(
            "client= takes a dask.distributed Client, a scheduler address ('tcp://host:8786') "
            f"or 'active' (the current client), not {client!r}"
        ),
    )
    return executor


def point_executor(client: object) -> PointExecutor:
    """Where a `sample_points` with `client=` reads its tiles: the first plugin that claims
    the client. `MissingPluginError` (naming the `dask` extra) when no plugin samples on a
    cluster, `TypeError` when none takes this kind of client."""
    executor: PointExecutor = _claimed(
        plugin_manager().hook.cogdex_point_executor,
        client,
        "client= (point sampling on a cluster)",
        TypeError(
            "client= takes a dask.distributed Client, a scheduler address ('tcp://host:8786') "
            f"or 'active' (the current one), not {client!r}"
        ),
    )
    return executor


def _claimed(hook: Any, client: object, feature: str, unclaimed: Exception) -> Any:
    """The first answer of a firstresult executor `hook` for `client`: `MissingPluginError`
    for `feature` (the `dask` extra) when no plugin implements it, `unclaimed` when none
    takes this client."""
    if not hook.get_hookimpls():
        raise MissingPluginError(feature, "dask")
    executor = hook(client=client)
    if executor is None:
        raise unclaimed
    return executor


@functools.cache
def _adapters() -> dict[str, OutputAdapter]:
    found: dict[str, OutputAdapter] = {}
    for adapters in plugin_manager().hook.cogdex_adapters():
        for adapter in adapters:
            found.setdefault(adapter.name, adapter)
    return found


def adapter(name: str) -> OutputAdapter | None:
    """The output adapter called `name`, or None when no installed plugin provides it."""
    return _adapters().get(name)


def adapter_names() -> list[str]:
    return sorted(_adapters())


__all__ = [
    "EntryPoint",
    "PluginInfo",
    "adapter",
    "adapter_names",
    "build_executor",
    "dataset",
    "datasets",
    "entry_points",
    "loaded",
    "plugin_infos",
    "plugin_manager",
    "point_executor",
    "register",
    "store_spec",
    "unregister",
]
