"""Slots -> the (band, [geometry,] time, y, x) cube: which slot fills which cell.

A time step is a record (or, with a merge rule, a UTC day of records), shared by every
geometry: a geometry the record does not cover holds the fill value at that step. Steps are
in time order, ties by record id (never by row position, which an export and load change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cogdex.sdk import Grid, Slot


@dataclass(frozen=True)
class Layout:
    """Where every slot goes: `cell[g, t]` is the slot drawn at geometry g, step t (-1:
    none). `geometries` are the positions of the given geometries that got a grid."""

    slots: tuple[Slot, ...]
    cell: np.ndarray
    grids: tuple[Grid, ...]
    geometries: tuple[int, ...]
    times: np.ndarray
    ids: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(geometries, steps, height, width)."""
        h, w = self.grids[0].shape
        return len(self.grids), len(self.times), h, w


def _step_key(slot: Slot, stamps: np.ndarray, merged: bool) -> object:
    first = slot.rows[0]
    return stamps[first].astype("datetime64[D]") if merged else first


def layout(slots: Sequence[Slot], owner: Sequence[int], table: pa.Table, merged: bool) -> Layout:
    """The cube layout of `plan_slots`'s output (`owner`: each slot's geometry)."""
    stamps = np.asarray(
        table.column("datetime").to_numpy(zero_copy_only=False), dtype="datetime64[ns]"
    )
    all_ids = table.column("id").to_pylist()
    geometries = sorted(set(owner))
    g_pos = {g: k for k, g in enumerate(geometries)}
    steps: dict[object, list[int]] = {}
    for s, slot in enumerate(slots):
        steps.setdefault(_step_key(slot, stamps, merged), []).append(s)
    rows_of = {key: [r for s in members for r in slots[s].rows] for key, members in steps.items()}
    start = {key: stamps[rows].min() for key, rows in rows_of.items()}
    order = sorted(steps, key=lambda key: (start[key], min(all_ids[r] for r in rows_of[key])))
    cell = np.full((len(geometries), len(order)), -1, dtype=np.int64)
    for t, key in enumerate(order):
        for s in steps[key]:
            cell[g_pos[owner[s]], t] = s
    grids = [next(slots[s].grid for s in range(len(slots)) if owner[s] == g) for g in geometries]
    ids = tuple(",".join(all_ids[r] for r in dict.fromkeys(rows_of[key])) for key in order)
    return Layout(
        slots=tuple(slots),
        cell=cell,
        grids=tuple(grids),
        geometries=tuple(geometries),
        times=np.array([start[key] for key in order], dtype="datetime64[ns]"),
        ids=ids,
    )
