"""Registers the `torchgeo` output (Collection.to_torchgeo_dataset)."""

from __future__ import annotations

from typing import Any

from cogdex.adapters import OutputAdapter
from cogdex.hookspecs import hookimpl


def to_torchgeo_dataset(collection: Any, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("the TorchGeo GeoDataset adapter is not implemented yet")


@hookimpl
def cogdex_adapters() -> list[OutputAdapter]:
    return [OutputAdapter("torchgeo", to_torchgeo_dataset, "TorchGeo GeoDataset", extra="torchgeo")]
