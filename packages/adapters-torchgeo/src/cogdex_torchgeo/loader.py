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

from cogdex import Collection, GeometryError, sdk
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
    over `bbox` (lon/lat) when given; every epoch yields the same batches in the same order.
    A `bbox` across the antimeridian (west > east) is refused with what to pass instead.

    `num_workers` processes read the chips (each with its own stores and tile cache; no
    header request). With one process the batches come in grid order; with several, each
    worker reads one contiguous run of them (see `worker_order`), so a tile that
    neighbouring chips share is fetched by one worker, not by each. `options` go to
    `CogdexGeoDataset` (crs, res, time_series, merge, dtype, ...).
    """
    dataset = CogdexGeoDataset(collection, bands, **options)
    roi = None
    if bbox is not None:
        checked = sdk.check_bbox(bbox, across=True)
        if checked[0] > checked[2]:
            # its chips are cut on one grid in the dataset CRS from the box's bounds there,
            # which for two sides would be the bounds of the rest of the world in between
            w, s, e, n = (f"{v:g}" for v in checked)
            raise GeometryError(
                f"bbox {bbox!r} crosses the antimeridian (west {w} > east {e}): the "
                f"loader's chips cover one box in the dataset CRS and cannot follow its two "
                f"sides; make one loader per side, bbox=({w}, {s}, 180, {n}) and "
                f"bbox=(-180, {s}, {e}, {n}), or subset the collection with this bbox and "
                f"pass no bbox (with a crs= continuous across 180, e.g. a UTM zone 1 or 60)",
                argument="bbox",
            )
        to_crs = pyproj.Transformer.from_crs(4326, dataset.crs, always_xy=True)
        roi = shapely.box(*to_crs.transform_bounds(*checked))
    chips = list(GriddedPatchSampler(dataset, size=size, roi=roi))
    return DataLoader(
        dataset, sampler=worker_order(chips, batch_size, num_workers), batch_size=batch_size,
        num_workers=num_workers, collate_fn=stack_samples,
    )  # fmt: skip


def worker_order[T](chips: list[T], batch_size: int, num_workers: int) -> list[T]:
    """`chips` reordered so that, batched by `batch_size`, `num_workers` DataLoader workers
    each read one contiguous run of the batches grid order makes.

    torch hands batch i to worker i % num_workers, so in grid order each worker reads every
    other row of chips, and a tile row that several rows of chips cross is fetched by every
    worker. Here the full batches are cut into one run per worker (the first runs one batch
    longer when they do not divide evenly) and interleaved, batch j of run w at position
    j * num_workers + w; the short last batch, if any, stays last (a batch is consecutive
    chips). The batches themselves are those of grid order."""
    if num_workers < 2:
        return chips
    full = len(chips) // batch_size
    batches = [chips[k * batch_size : (k + 1) * batch_size] for k in range(full)]
    base, extra = divmod(full, num_workers)
    runs, start = [], 0
    for w in range(num_workers):
        n = base + (w < extra)
        runs.append(batches[start : start + n])
        start += n
    order = [run[j] for j in range(base + (extra > 0)) for run in runs if j < len(run)]
    return [chip for batch in order for chip in batch] + chips[full * batch_size :]


__all__ = ["to_torchgeo_loader", "worker_order"]
