"""Any box of the (band, geometry, time, y, x) cube, read through cogdex.

`CubeReader` reads a box's pixel window of every slot the box touches with one `read_slots`
plan (the eager path reads the whole cube as one box). The slots keep their whole grids
(`Slot.window`), so a box's pixels are exactly the eager read's there, warped records
included.

Lazily, each Dask chunk is a task of its own `ChunkRead`: plain data holding only what the
chunk reads (its windowed slots, cut down to the records whose footprint reaches the box,
and those records' headers), so a graph's size follows the chunks and the records they
touch, never the collection's other rows. Store options travel without their secrets
(`cogdex_xarray.secret_options`); each worker reads with its own runtime and fetches no header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import product
from typing import Any

import numpy as np

from cogdex.sdk import (
    BandSource,
    Grid,
    Merge,
    Slot,
    Window,
    public_options,
    read_slots,
    record_grid,
    run_read,
)
from cogdex.sdk import grid as G
from cogdex_xarray import secret_options
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

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        c, g, t, y, x = (range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True))
        if any(r.step != 1 for r in (c, g, t, y, x)):
            raise IndexError("the cube reads contiguous boxes only")
        return self.read(c, g, t, y, x)

    def read(self, c: range, g: range, t: range, y: range, x: range) -> np.ndarray:
        """The box as (bands, geometries, steps, rows, cols); cells no record fills hold
        the fill value."""
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
        shape = (len(c), len(g), len(t), len(y), len(x))
        return _read_box(self, self.sources[c.start : c.stop], slots, picks, shape)


def _read_box(
    how: CubeReader | ChunkRead,
    sources: Sequence[BandSource],
    slots: Sequence[Slot],
    picks: Sequence[tuple[int, int]],
    shape: tuple[int, ...],
) -> np.ndarray:
    """`slots` read onto a box of `shape` (bands, geometries, steps, rows, cols), slot k at
    (geometry, step) `picks[k]` of the box; the rest holds the fill value."""
    out = np.full(shape, how.fill, how.dtype)
    if not slots or not sources or not out.size:
        return out
    data, _ = run_read(
        read_slots(slots, sources, resampling=how.resampling, fill=how.fill, merge=how.merge,
                   dtype=how.dtype, use_overviews=how.use_overviews)
    )  # fmt: skip
    for k, (gi, ti) in enumerate(picks):
        out[:, gi, ti] = data[k]
    return out


@dataclass(frozen=True, eq=False)
class ChunkRead:
    """One Dask chunk's task: its slots (windowed to the chunk, with only the records
    that reach it, in merge order), where each goes in the box, and `sources` holding only
    those records, with the public part of their store options; `secrets` names the rest
    (held by the driver and the workers, never in the graph)."""

    shape: tuple[int, int, int, int, int]
    slots: tuple[Slot, ...]
    picks: tuple[tuple[int, int], ...]
    sources: tuple[BandSource, ...]
    dtype: np.dtype
    fill: float
    resampling: G.Resampling
    merge: Merge
    use_overviews: bool
    secrets: str | None

    def __call__(self) -> np.ndarray:
        """The chunk as (bands, geometries, steps, rows, cols), read where this runs."""
        sources: Sequence[BandSource] = self.sources
        if self.secrets is not None:
            extra = secret_options.held(self.secrets)
            sources = [replace(s, store_options={**s.store_options, **extra}) for s in sources]
        return _read_box(self, sources, self.slots, self.picks, self.shape)


def read_chunk(chunk: ChunkRead) -> np.ndarray:
    """What a chunk's task calls on a worker."""
    return chunk()


Box = tuple[int, int, int, int]
"""(row start, row stop, col start, col stop) in a geometry grid's pixels."""


def _reach(src: BandSource, i: int, grid: Grid) -> Box | None:
    """The pixels of `grid` that record i may give a value to: its whole footprint,
    exactly where the record is a window of the grid, else its transformed bounds padded
    by what a resampling kernel at the level read can reach; None when unknown."""
    if not np.isfinite(src.transform[i]).all():
        return None  # the read raises for it, as the eager read does
    own = record_grid(src, i)
    window = G.aligned_window(own, grid)
    if window is not None:
        return (-window.row_off, own.height - window.row_off,
                -window.col_off, own.width - window.col_off)  # fmt: skip
    try:
        left, bottom, right, top = G.geometry_bounds(own.bounds, grid.crs, geometry_crs=own.crs)
    except ValueError:
        # no edge of its footprint projects into the grid's CRS (a global record on a
        # geostationary grid) while its inside may: every chunk samples it, as the eager
        # read samples every pixel
        return None
    a, _, c, _, e, f = grid.transform
    ratio = max(1.0, *(max(own.res) / r for r in grid.res))
    pad = 8 + 3 * math.ceil(ratio)
    cols = sorted(((left - c) / a, (right - c) / a))
    rows = sorted(((top - f) / e, (bottom - f) / e))
    return (math.floor(rows[0]) - pad, math.ceil(rows[1]) + pad,
            math.floor(cols[0]) - pad, math.ceil(cols[1]) + pad)  # fmt: skip


class _Reaches:
    """`_reach` of each (geometry, collection row), computed once, over every band (a
    record's bands may lie on different grids)."""

    def __init__(self, sources: Sequence[BandSource], grids: Sequence[Grid]) -> None:
        self.sources, self.grids = sources, grids
        self.known: dict[tuple[int, int], Box | None] = {}

    def meets(self, g: int, row: int, box: Box) -> bool:
        key = (g, row)
        if key not in self.known:
            self.known[key] = self._union(g, row)
        reach = self.known[key]
        if reach is None:
            return True
        return reach[0] < box[1] and box[0] < reach[1] and reach[2] < box[3] and box[2] < reach[3]

    def _union(self, g: int, row: int) -> Box | None:
        boxes = []
        for src in self.sources:
            at = int(np.searchsorted(src.rows, row))
            if at < len(src.rows) and src.rows[at] == row:
                reach = _reach(src, at, self.grids[g])
                if reach is None:
                    return None
                boxes.append(reach)
        if not boxes:
            return (0, 0, 0, 0)  # in no band: reads nothing
        return (min(b[0] for b in boxes), max(b[1] for b in boxes),
                min(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip


def chunk_reads(
    reader: CubeReader, chunks: tuple[tuple[int, ...], ...], store_options: Mapping[str, Any]
) -> dict[tuple[int, ...], ChunkRead]:
    """The `ChunkRead` of every chunk of the cube (dask's block index -> task), on the
    driver, before any request. Every chunk holds all bands (`chunks[0]` is one block)."""
    public = public_options(store_options)
    hidden = {k: v for k, v in store_options.items() if k not in public}
    name = secret_options.hold(hidden) if hidden else None
    layout = reader.layout
    reaches = _Reaches(reader.sources, layout.grids)
    starts = [np.concatenate(([0], np.cumsum(c))).astype(int) for c in chunks[1:]]
    out: dict[tuple[int, ...], ChunkRead] = {}
    for index in product(*(range(len(c)) for c in chunks[1:])):
        (g0, t0, y0, x0), (g1, t1, y1, x1) = zip(
            *((s[i], s[i + 1]) for s, i in zip(starts, index, strict=True)), strict=True
        )
        box = (int(y0), int(y1), int(x0), int(x1))
        window = Window(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        slots: list[Slot] = []
        picks: list[tuple[int, int]] = []
        for gi, ti in product(range(g1 - g0), range(t1 - t0)):
            s = int(layout.cell[g0 + gi, t0 + ti])
            if s < 0:
                continue
            slot = layout.slots[s]
            rows = tuple(r for r in slot.rows if reaches.meets(g0 + gi, r, box))
            if rows:
                slots.append(Slot(slot.grid, rows, window))
                picks.append((gi, ti))
        wanted = np.array(sorted({r for s in slots for r in s.rows}), np.int64)
        sources = tuple(_records(src, wanted, public) for src in reader.sources)
        out[(0, *index)] = ChunkRead(
            shape=(len(sources), g1 - g0, t1 - t0, window.height, window.width),
            slots=tuple(slots), picks=tuple(picks), sources=sources, dtype=reader.dtype,
            fill=reader.fill, resampling=reader.resampling, merge=reader.merge,
            use_overviews=reader.use_overviews, secrets=name,
        )  # fmt: skip
    return out


def _records(src: BandSource, rows: np.ndarray, options: Mapping[str, Any]) -> BandSource:
    """`src` cut down to the collection rows `rows` it has."""
    at = np.searchsorted(src.rows, rows)
    at = at[at < len(src.rows)]
    return src.take(at[np.isin(src.rows[at], rows)], options)


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
