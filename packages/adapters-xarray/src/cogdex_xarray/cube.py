"""Any box of the (band, geometry, time, y, x) cube, read through cogdex.

`CubeReader` is what Dask calls per chunk (and the eager path once for the whole cube): it
reads the box's pixel window of every slot the box touches with one `read_slots` plan. The
slots keep their whole grids (`Slot.window`), so a chunk's pixels are exactly the eager
read's there, warped records included. It holds only plain data (the layout, the band
sources with their parsed headers), so it pickles to Dask workers, which read with their
own runtime and fetch no header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cogdex.sdk import BandSource, Merge, Slot, Window, read_slots, record_grid, run_read
from cogdex.sdk import grid as G
from cogdex_xarray.layout import Layout


@dataclass(frozen=True, eq=False)
class CubeReader:
    """Reads boxes of the cube; `shape` is (bands, geometries, steps, height, width)."""

    layout: Layout
    sources: tuple[BandSource, ...]
    dtype: np.dtype
    fill: float
    resampling: G.Resampling
    merge: Merge
    use_overviews: bool

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return (len(self.sources), *self.layout.shape)

    @property
    def ndim(self) -> int:
        return 5

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        c, g, t, y, x = (range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True))
        if any(r.step != 1 for r in (c, g, t, y, x)):
            raise IndexError("the cube reads contiguous boxes only")
        return self.read(c, g, t, y, x)

    def read(self, c: range, g: range, t: range, y: range, x: range) -> np.ndarray:
        """The box as (bands, geometries, steps, rows, cols); cells no record fills hold
        the fill value."""
        bands = self.sources[c.start : c.stop]
        out = np.full((len(bands), len(g), len(t), len(y), len(x)), self.fill, self.dtype)
        window = Window(x.start, y.start, len(x), len(y))
        picks: list[tuple[int, int]] = []
        slots: list[Slot] = []
        for gi, gk in enumerate(g):
            for ti, tk in enumerate(t):
                s = int(self.layout.cell[gk, tk])
                if s >= 0:
                    slot = self.layout.slots[s]
                    slots.append(Slot(slot.grid, slot.rows, window))
                    picks.append((gi, ti))
        if not slots or not bands or not len(y) or not len(x):
            return out
        data, _ = run_read(
            read_slots(slots, bands, resampling=self.resampling, fill=self.fill,
                       merge=self.merge, dtype=self.dtype, use_overviews=self.use_overviews)
        )  # fmt: skip
        for k, (gi, ti) in enumerate(picks):
            out[:, gi, ti] = data[k]
        return out


def _anchor(reader: CubeReader) -> tuple[Window, tuple[int, int]] | None:
    """Where the first geometry's grid lies in the pixels of its first record, and that
    file's tile size (rows, cols); None when the grid is not a window of that file."""
    layout = reader.layout
    first = int(next(s for s in layout.cell[0] if s >= 0))
    row = layout.slots[first].rows[0]
    for src in reader.sources:
        hit = np.flatnonzero(src.rows == row)
        if hit.size:
            i = int(hit[0])
            window = G.aligned_window(record_grid(src, i), layout.grids[0])
            if window is None:
                return None
            level = int(src.level_start[i])
            return window, (
                int(src.levels["tile_height"][level]),
                int(src.levels["tile_width"][level]),
            )
    return None


def axis_chunks(size: int, want: int, offset: int | None, tile: int) -> tuple[int, ...]:
    """Chunk lengths along one axis of `size` pixels. With an `offset` (the axis start in
    the file's pixels) chunks are whole multiples of `tile` cut at the file's tile edges;
    `want` -1 means one chunk."""
    if want == -1:
        return (size,)
    if offset is not None:
        want = max(tile, -(-want // tile) * tile)
        first = want - offset % want
    else:
        first = want
    chunks = [min(first, size)]
    while sum(chunks) < size:
        chunks.append(min(want, size - sum(chunks)))
    return tuple(chunks)


def cube_chunks(reader: CubeReader, chunks: dict[str, int]) -> tuple[tuple[int, ...], ...]:
    """Dask chunks of the cube: all bands together, one geometry, `chunks["time"]` steps
    (default 1), and y/x along the COG tiles of the first record when the grid is a window
    of it (default: one tile), else plain blocks (default 512)."""
    n_bands, n_geom, n_steps, height, width = reader.shape
    anchor = _anchor(reader)
    if anchor is None:
        offsets: Sequence[int | None] = (None, None)
        tiles = (512, 512)
    else:
        window, tiles = anchor
        offsets = (window.row_off, window.col_off)
    steps = chunks.get("time", 1)
    return (
        (n_bands,),
        axis_chunks(n_geom, chunks.get("geometry", 1), None, 1),
        axis_chunks(n_steps, steps, None, 1),
        axis_chunks(height, chunks.get("y", tiles[0]), offsets[0], tiles[0]),
        axis_chunks(width, chunks.get("x", tiles[1]), offsets[1], tiles[1]),
    )
