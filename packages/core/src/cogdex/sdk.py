"""The plugin SDK: the stable surface for plugin authors.

Plugins (ours and third parties') import only from here and from `cogdex`'s public names;
every other module is private to core and may change between releases (an import-linter
contract holds the workspace's plugins to this). What is here:

- hooks: `hookimpl`, the marker for functions that implement a hook of `cogdex.hookspecs`
  (documented in docs/plugins.md);
- hook values: `DatasetEntry`, `StacSource`, `TableSource` (`cogdex_datasets`), `StoreSpec`
  and `ObjectURL` (`cogdex_store_spec`), `OutputAdapter` (`cogdex_adapters`), and for
  `cogdex_build_executor` the `BuildExecutor` protocol, the build's `Plan`, its `Part`s,
  `part_rows` (what runs on a worker) and the `PartRows` it returns; for
  `cogdex_point_executor` the `PointExecutor` protocol, the sampling call's `PointPlan`,
  its `PointTask`s, `sample_task` (what runs on a worker) and the `TaskValues` it returns;
- store helpers for cloud plugins: `default_spec`, `has_credentials`, `requester_pays_error`,
  and `public_options` (the options without their secrets: what may travel);
- the errors plugins raise;
- the read engine output adapters build on: grids (`Grid`, `Window`, `Resampling`, and the
  `grid` namespace of CRS helpers), band sources, slot planning and reading (`plan_slots`,
  `read_slots`, `Slot`, `Merge`), per-record values, `runtime` (the per-process event
  loop that runs a read from sync code), and `gather_or_cancel` (concurrent reads that
  stop together at the first failure).

`import cogdex.sdk` stays cheap, as entry points load for every cogdex command: the
read-engine names, whose modules import numpy/pyarrow/pyproj, load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cogdex.adapters import OutputAdapter
from cogdex.datasets import DatasetEntry, StacSource, TableSource
from cogdex.errors import (
    BuildError,
    CogdexError,
    FetchError,
    MemoryLimitError,
    MissingCredentialsError,
    MissingPluginError,
    ReadDeadlineError,
    ReadFailureWarning,
    StoreError,
)
from cogdex.hookspecs import hookimpl
from cogdex.io import runtime
from cogdex.io.stores import (
    StoreSpec,
    default_spec,
    has_credentials,
    public_options,
    requester_pays_error,
)
from cogdex.io.urls import ObjectURL
from cogdex.read.window import Window  # a NamedTuple, no dependencies

if TYPE_CHECKING:
    from cogdex.index.band import BandSource
    from cogdex.index.build import BuildExecutor, Part, PartRows, Plan, part_rows
    from cogdex.io.fetch import gather_or_cancel, run_read
    from cogdex.read import DEFAULT_MAX_MEMORY, grid
    from cogdex.read.bbox import check_bbox
    from cogdex.read.grid import Grid, Resampling
    from cogdex.read.physical import check_merges, record_values
    from cogdex.read.plan import Slot, pixel_size_in, plan_slots, record_grid
    from cogdex.read.points import PointExecutor, PointPlan, PointTask, TaskValues, sample_task
    from cogdex.read.scenes import MERGES, Merge, default_fill, output_dtype, read_slots

# Read-engine names -> the module that defines them, imported on first access.
_LAZY = {
    "BandSource": "cogdex.index.band",
    "BuildExecutor": "cogdex.index.build",
    "Part": "cogdex.index.build",
    "PartRows": "cogdex.index.build",
    "Plan": "cogdex.index.build",
    "part_rows": "cogdex.index.build",
    "DEFAULT_MAX_MEMORY": "cogdex.read",
    "check_bbox": "cogdex.read.bbox",
    "Grid": "cogdex.read.grid",
    "Resampling": "cogdex.read.grid",
    "check_merges": "cogdex.read.physical",
    "record_values": "cogdex.read.physical",
    "Slot": "cogdex.read.plan",
    "pixel_size_in": "cogdex.read.plan",
    "plan_slots": "cogdex.read.plan",
    "record_grid": "cogdex.read.plan",
    "MERGES": "cogdex.read.scenes",
    "Merge": "cogdex.read.scenes",
    "default_fill": "cogdex.read.scenes",
    "output_dtype": "cogdex.read.scenes",
    "read_slots": "cogdex.read.scenes",
    "run_read": "cogdex.io.fetch",
    "gather_or_cancel": "cogdex.io.fetch",
    "PointExecutor": "cogdex.read.points",
    "PointPlan": "cogdex.read.points",
    "PointTask": "cogdex.read.points",
    "TaskValues": "cogdex.read.points",
    "sample_task": "cogdex.read.points",
}
# Namespaces: modules whose functions adapters call by their qualified name.
_LAZY_MODULES = {"grid": "cogdex.read.grid"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'cogdex.sdk' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_MODULES})


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "MERGES",
    "BandSource",
    "BuildError",
    "BuildExecutor",
    "CogdexError",
    "DatasetEntry",
    "FetchError",
    "Grid",
    "MemoryLimitError",
    "Merge",
    "MissingCredentialsError",
    "MissingPluginError",
    "ObjectURL",
    "OutputAdapter",
    "Part",
    "PartRows",
    "Plan",
    "PointExecutor",
    "PointPlan",
    "PointTask",
    "ReadDeadlineError",
    "ReadFailureWarning",
    "Resampling",
    "Slot",
    "StacSource",
    "StoreError",
    "StoreSpec",
    "TableSource",
    "TaskValues",
    "Window",
    "check_bbox",
    "check_merges",
    "default_fill",
    "default_spec",
    "gather_or_cancel",
    "grid",
    "has_credentials",
    "hookimpl",
    "output_dtype",
    "part_rows",
    "pixel_size_in",
    "plan_slots",
    "public_options",
    "read_slots",
    "record_grid",
    "record_values",
    "requester_pays_error",
    "run_read",
    "runtime",
    "sample_task",
]
