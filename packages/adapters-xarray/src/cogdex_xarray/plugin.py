"""Registers the `xarray` output (Collection.get_xarray)."""

from __future__ import annotations

from typing import Any

from cogdex.adapters import OutputAdapter
from cogdex.hookspecs import hookimpl


def get_xarray(collection: Any, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("the xarray adapter is not implemented yet")


@hookimpl
def cogdex_adapters() -> list[OutputAdapter]:
    return [OutputAdapter("xarray", get_xarray, "xarray.Dataset (eager or Dask)", extra="xarray")]
