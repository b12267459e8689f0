"""(level, window, bands) -> the tiles to fetch: numpy arithmetic, no I/O, no per-tile loop.

A `Window` is in pixels of the level and may extend beyond
the image (the part outside is fill). Bands are 0-based sample indices. Tiles are numbered
as TIFF numbers them: row by row within a plane, plane after plane (planar configuration 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cogdex.read.window import Window
from cogdex.tiff.model import Level


@dataclass(frozen=True, slots=True, eq=False)
class TilePlan:
    """The tiles a window needs: parallel arrays, one entry per tile.

    `index` points into the level's tile offset/byte-count arrays; `row` and `col` are the
    tile's position in the tile grid; `plane` the sample plane it holds (0 when contiguous).
    `sparse` marks tiles with no data in the file (offset or byte count 0), which are never
    fetched and read as the fill value.
    """

    window: Window
    index: np.ndarray
    row: np.ndarray
    col: np.ndarray
    plane: np.ndarray
    sparse: np.ndarray

    def __len__(self) -> int:
        return int(self.index.size)


def clip(window: Window, width: int, height: int) -> Window:
    """The part of `window` inside a width x height image (width/height 0 when none is)."""
    c0, r0 = max(window.col_off, 0), max(window.row_off, 0)
    c1 = min(window.col_off + window.width, width)
    r1 = min(window.row_off + window.height, height)
    return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


def plan_window(level: Level, window: Window, bands: Sequence[int]) -> TilePlan:
    """The tiles of `level` that cover `window` for `bands`."""
    c0, r0, w, h = clip(window, level.width, level.height)
    empty = np.empty(0, dtype=np.int64)
    if w == 0 or h == 0 or len(bands) == 0:
        return TilePlan(window, empty, empty, empty, empty, np.empty(0, dtype=bool))
    tw, th = level.tile_width, level.tile_height
    cols = np.arange(c0 // tw, (c0 + w - 1) // tw + 1, dtype=np.int64)
    rows = np.arange(r0 // th, (r0 + h - 1) // th + 1, dtype=np.int64)
    if level.planar == 2:
        planes = np.array(sorted(set(bands)), dtype=np.int64)
    else:
        planes = np.zeros(1, dtype=np.int64)
    plane, row, col = (a.ravel() for a in np.meshgrid(planes, rows, cols, indexing="ij"))
    across = level.tiles_across
    index = (plane * level.tiles_down + row) * across + col
    sparse = (level.tile_offsets[index] == 0) | (level.tile_byte_counts[index] == 0)
    return TilePlan(window, index, row, col, plane, sparse)
