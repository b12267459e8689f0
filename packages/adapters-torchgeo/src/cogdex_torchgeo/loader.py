"""The `torchgeo_loader` output: a DataLoader of gridded chips, batched, ready to iterate.

It exists so that code without torch (core's `cogdex demo`) can ask for batches through
`collection.to("torchgeo_loader", ...)`, and so that a user gets the usual TorchGeo wiring
(dataset, `GriddedPatchSampler`, `stack_samples`) in one call; it is what docs/torchgeo.md writes
out by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyproj
import shapely
from torch.utils.data import DataLoader
from torchgeo.datasets import stack_samples
from torchgeo.samplers import GriddedPatchSampler

from cogdex import Collection, sdk
from cogdex_torchgeo.dataset import CogdexGeoDataset


def to_torchgeo_loader(
    collection: Collection,
    bands: str | Sequence[str],
    *,
    size: int,
    batch_size: int = 4,
    num_workers: int = 0,
    bbox: tuple[float, float, float, float] | None = None,
    **options: Any,
) -> DataLoader[dict[str, Any]]:
    """Batches of `size` px chips of `bands`, on a grid (stride `size`) over the dataset, or
    over `bbox` (lon/lat) when given; in grid order, so every run yields the same batches.

    `num_workers` processes read the chips (each with its own stores; no header request);
    `options` go to `CogdexGeoDataset` (crs, res, time_series, merge, dtype, ...).
    """
    dataset = CogdexGeoDataset(collection, bands, **options)
    roi = None
    if bbox is not None:
        # a reversed box (or one across the antimeridian) would become its complement
        checked = sdk.check_bbox(bbox)
        to_crs = pyproj.Transformer.from_crs(4326, dataset.crs, always_xy=True)
        roi = shapely.box(*to_crs.transform_bounds(*checked))
    sampler = GriddedPatchSampler(dataset, size=size, roi=roi)
    return DataLoader(
        dataset, sampler=sampler, batch_size=batch_size, num_workers=num_workers,
        collate_fn=stack_samples,
    )  # fmt: skip


__all__ = ["to_torchgeo_loader"]
