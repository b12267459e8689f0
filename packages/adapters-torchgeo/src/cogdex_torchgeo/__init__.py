"""cogdex output adapter: TorchGeo GeoDataset (`collection.to_torchgeo_dataset`).

`CogdexGeoDataset` is imported on first use, so loading the plugin does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CogdexGeoDataset"]


def __getattr__(name: str) -> Any:
    if name == "CogdexGeoDataset":
        from cogdex_torchgeo.dataset import CogdexGeoDataset

        return CogdexGeoDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
