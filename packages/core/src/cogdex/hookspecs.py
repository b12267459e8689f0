"""The hook surface: the only way plugins talk to core.

Plugins are modules or objects with functions marked `@hookimpl`, found through the
`cogdex` entry-point group (or registered in-process with `cogdex.plugins.register`). They
import `hookimpl` and the hooks' value types from `cogdex.sdk`; docs/plugins.md documents
each hook with an example.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from cogdex.adapters import OutputAdapter
    from cogdex.datasets import DatasetEntry
    from cogdex.index.build import BuildExecutor
    from cogdex.io.stores import StoreSpec
    from cogdex.io.urls import ObjectURL

PROJECT = "cogdex"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def cogdex_datasets() -> Iterable[DatasetEntry]:
    """Return the catalog entries this plugin provides.

    Called once per process when the catalog is first listed; IDs must be unique across all
    plugins (a clash is reported with both plugin names).
    """


@hookspec(firstresult=True)
def cogdex_store_spec(url: ObjectURL, options: Mapping[str, Any]) -> StoreSpec | None:
    """Claim a URL and say how to reach its store, or return None to pass.

    `options` are the store options the user gave (and those of the catalog entry). A cloud
    plugin returns a `StoreSpec` with its configuration and credential provider; core builds
    the obstore store from it once per origin and process. Credentials and signatures come
    from the provider at read time, so nothing secret reaches an index. The first non-None
    answer wins; core's own anonymous/env-based stores serve what no plugin claims.
    """


@hookspec
def cogdex_adapters() -> Iterable[OutputAdapter]:
    """Return the output adapters this plugin provides (e.g. `torchgeo`, `xarray`)."""


@hookspec(firstresult=True)
def cogdex_build_executor(client: object) -> BuildExecutor | None:
    """Claim the `client=` of a build and return where its header fetches run, or None to pass.

    `build_from_stac`, `build_from_items` and `build_from_table` (and `build`) pass their
    `client=` argument here as given: a cluster client, a scheduler address
    (`"tcp://host:8786"`, what `cogdex collections build --dask` passes), or a name such as
    `"active"` (the current client). The `BuildExecutor` returned runs
    `cogdex.index.build.part_rows` on parts of the build's plan (plain data, no secrets) and
    returns the parts' rows in item order; core merges them into exactly the rows a local
    build makes, and writes the collection itself (one atomic replace). Store options reach
    the executor whole: it must not put their secrets into what it ships per task
    (`public_options` is the safe part). Called only when a build has a `client=`, so a
    plugin imports its engine here, not at load time. Without any implementation, `client=`
    raises `MissingPluginError` naming the `dask` extra; the first non-None answer wins.
    """


__all__ = [
    "PROJECT",
    "cogdex_adapters",
    "cogdex_build_executor",
    "cogdex_datasets",
    "cogdex_store_spec",
    "hookimpl",
    "hookspec",
]
