"""`DistributedGeoSampler`: one rank's share of a TorchGeo sampler's chips, for DDP.

TorchGeo's samplers yield chips (`GeoSlice`s), not dataset indices, and know nothing of
ranks, so torch's `DistributedSampler` cannot take them and every rank would train on the
whole epoch. This wraps any of them: each epoch it draws the wrapped sampler's chips (every
rank draws the same list, as a grid sampler always does and a random one does from the same
integer seed) and keeps the positions that torch's `DistributedSampler` gives this rank, so
the ranks' shares are disjoint, cover the epoch, and are of one length (DDP needs every rank
to take the same number of steps).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Protocol

from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler
from torchgeo.datasets.utils import GeoSlice


class SizedChips(Sized, Protocol):
    """What the wrapper needs of a sampler: its chips, and how many an epoch has."""

    def __iter__(self) -> Iterator[GeoSlice]: ...


class DistributedGeoSampler(Sampler[GeoSlice]):
    """This rank's chips of `sampler`, chosen as `torch.utils.data.DistributedSampler`
    chooses indices (same arguments, same `set_epoch`).

    `num_replicas` and `rank` default to the initialised process group's. The wrapped
    sampler must yield the same chips in every rank: a `GridGeoSampler` or
    `GriddedPatchSampler` does; a random sampler does when each rank makes it with the same
    integer `generator` (its draws then follow the epochs alike in every rank). With
    `shuffle=True` the epoch's chips are permuted by `seed + epoch` before they are dealt
    out: call `set_epoch` before each epoch. When the chips do not divide evenly,
    `drop_last=False` repeats the first ones to fill the last rank's share, `True` leaves
    the tail out, as `DistributedSampler` does.
    """

    def __init__(
        self,
        sampler: SizedChips,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.sampler = sampler
        self._count = len(sampler)
        # Positions in the epoch's chips: DistributedSampler needs only the length.
        self._positions: DistributedSampler[int] = DistributedSampler(
            range(self._count),  # type: ignore[arg-type]  # a Sized is all it reads
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self.num_replicas = self._positions.num_replicas
        self.rank = self._positions.rank

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose shuffle to use (`shuffle=True`); the same in every rank."""
        self._positions.set_epoch(epoch)

    def __iter__(self) -> Iterator[GeoSlice]:
        chips = list(self.sampler)
        if len(chips) != self._count:
            raise RuntimeError(
                f"the wrapped sampler yielded {len(chips)} chips where its len() said "
                f"{self._count}: the ranks' shares would not add up to its epoch"
            )
        for position in self._positions:
            yield chips[position]

    def __len__(self) -> int:
        return len(self._positions)
