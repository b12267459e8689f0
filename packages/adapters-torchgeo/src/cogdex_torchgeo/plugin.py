"""Registers the `torchgeo` output (Collection.to_torchgeo_dataset).

Entry points load with the plugin manager, for every cogdex command; torch is imported only
when a dataset is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cogdex.sdk import OutputAdapter, hookimpl

if TYPE_CHECKING:
    from cogdex import Collection
    from cogdex_torchgeo.dataset import CogdexGeoDataset


def to_torchgeo_dataset(
    collection: Collection, bands: str | Sequence[str], **options: Any
) -> CogdexGeoDataset:
    """A TorchGeo GeoDataset over the collection (options: see CogdexGeoDataset)."""
    from cogdex_torchgeo.dataset import CogdexGeoDataset

    return CogdexGeoDataset(collection, bands, **options)


@hookimpl
def cogdex_adapters() -> list[OutputAdapter]:
    return [OutputAdapter("torchgeo", to_torchgeo_dataset, "TorchGeo GeoDataset", extra="torchgeo")]
