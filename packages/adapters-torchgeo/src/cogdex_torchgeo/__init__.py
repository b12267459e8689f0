"""cogdex output adapter: TorchGeo GeoDataset (`collection.to_torchgeo_dataset`).

`CogdexGeoDataset` and `DistributedGeoSampler` (a TorchGeo sampler's chips shared out
across the ranks of a DDP run) are imported on first use, so loading the plugin does not
import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CogdexGeoDataset", "DistributedGeoSampler"]


def __getattr__(name: str) -> Any:
    if name == "CogdexGeoDataset":
        from cogdex_torchgeo.dataset import CogdexGeoDataset

        return CogdexGeoDataset
    if name == "DistributedGeoSampler":
        from cogdex_torchgeo.distributed import DistributedGeoSampler

        return DistributedGeoSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
