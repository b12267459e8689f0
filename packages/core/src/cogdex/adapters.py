"""Output adapters: how a plugin adds an output (TorchGeo, xarray, ...) to `Collection`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OutputAdapter:
    """An output a plugin provides.

    `function(collection, *args, **kwargs)` produces the output; `Collection` calls it for
    `collection.to(name, ...)` and for the named shortcuts (`to_torchgeo_dataset`,
    `get_xarray`). `extra` is the pip extra that installs the plugin, for error messages.
    """

    name: str
    function: Callable[..., Any]
    description: str = ""
    extra: str | None = None


__all__ = [
    "OutputAdapter",
]
