"""Registers the `torchgeo` output (Collection.to_torchgeo_dataset) and `torchgeo_loader`
(a DataLoader of gridded chips over it, see `cogdex_torchgeo.loader`).

Entry points load with the plugin manager, for every cogdex command; torch is imported only
when a dataset is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cogdex.sdk import OutputAdapter, hookimpl

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from cogdex import Collection
    from cogdex_torchgeo.dataset import CogdexGeoDataset


def to_torchgeo_dataset(
    collection: Collection, bands: str | Sequence[str], **options: Any
) -> CogdexGeoDataset:
    """A TorchGeo GeoDataset over the collection (options: see CogdexGeoDataset)."""
    from cogdex_torchgeo.dataset import CogdexGeoDataset

    return CogdexGeoDataset(collection, bands, **options)


def to_torchgeo_loader(
    collection: Collection, bands: str | Sequence[str], **options: Any
) -> DataLoader[dict[str, Any]]:
    """A DataLoader of gridded chips over the collection (options: see the loader module)."""
    from cogdex_torchgeo import loader

    return loader.to_torchgeo_loader(collection, bands, **options)


@hookimpl
def cogdex_adapters() -> list[OutputAdapter]:
    return [
        OutputAdapter("torchgeo", to_torchgeo_dataset, "TorchGeo GeoDataset", extra="torchgeo"),
        OutputAdapter(
            "torchgeo_loader",
            to_torchgeo_loader,
            "DataLoader of gridded TorchGeo chips",
            extra="torchgeo",
        ),
    ]
