"""Registers the `xarray` output (Collection.get_xarray).

Entry points load with the plugin manager, for every cogdex command; xarray and Dask are
imported only when a Dataset is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cogdex.sdk import OutputAdapter, hookimpl

if TYPE_CHECKING:
    import xarray

    from cogdex import Collection


def get_xarray(
    collection: Collection, geometries: Any, bands: str | Sequence[str], **options: Any
) -> xarray.Dataset:
    """An xarray Dataset of `bands` over `geometries` (options: see cogdex_xarray.dataset)."""
    from cogdex_xarray.dataset import get_xarray as build

    return build(collection, geometries, bands, **options)


@hookimpl
def cogdex_adapters() -> list[OutputAdapter]:
    return [OutputAdapter("xarray", get_xarray, "xarray.Dataset (eager or Dask)", extra="xarray")]
