"""Bands of many scenes onto the slots of a read plan: file windows, reads, warps, merges.

A `Slot` (see `read.plan`) is one output image: a target `Grid` and the collection rows
drawn into it, in order. For every (slot, record, file) the plan picks the coarsest level
that is still at least as fine as the target (overviews for coarse targets), cuts the
window the target needs, and reads every window of every slot in one concurrent
`read_windows` call. Pieces whose grid is aligned with the target are window cuts; the
others (another CRS, another resolution) are warped. A slot with several records merges
them with an explicit rule: `first` valid pixel in record order, `last`, or a reducer over
valid pixels (`min`, `max`, `mean`, `median`).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import numpy as np

from cogdex.errors import CogdexError, MemoryLimitError
from cogdex.index.band import BandSource
from cogdex.io import runtime
from cogdex.read import grid as G
from cogdex.read.mosaic import convert, fill_value
from cogdex.read.plan import Slot, level_grid, plan_window
from cogdex.read.reader import Source, WindowRead, read_windows
from cogdex.read.warp import Sampling, warp
from cogdex.read.window import Window
from cogdex.tiff.model import Level

Merge = Literal["first", "last", "min", "max", "mean", "median"]
MERGES = ("first", "last", "min", "max", "mean", "median")
_OVERVIEW_SLACK = 1.01  # a level may be this much coarser than the target and still serve it


@dataclass(frozen=True, slots=True)
class _Piece:
    """One file window to read for one slot: which bands of the output it fills."""

    slot: int
    rank: int  # position of the record in the slot (merge order)
    read: WindowRead
    targets: tuple[int, ...]  # output band positions, parallel to read.bands
    source_grid: G.Grid | None  # None: the window is the target grid (no warp)
    coords: G.CoordinateMap | None  # where the target samples, in the window's pixels
    nodata: float | None


def output_dtype(sources: Sequence[BandSource], rows: Sequence[int] | None = None) -> np.dtype:
    """The one dtype of these bands over the given collection rows (default: all); a clash
    names the bands."""
    found: dict[str, set[str]] = {}
    for src in sources:
        first = src.level_start[:-1]
        if rows is not None:
            first = first[np.isin(src.rows, np.asarray(rows, dtype=np.int64))]
        found[src.band] = set(np.asarray(src.dtype, dtype=object)[first].tolist())
    all_types = set().union(*found.values()) if found else set()
    if len(all_types) > 1:
        detail = ", ".join(f"{n}: {'/'.join(sorted(t))}" for n, t in found.items())
        raise CogdexError(f"bands have different data types ({detail}); read them separately")
    if not all_types:
        raise CogdexError(f"no readable records for bands {', '.join(found)}")
    return np.dtype(all_types.pop())


def default_fill(
    sources: Sequence[BandSource],
    dtype: np.dtype,
    fill: float | None,
    *,
    advice: str = "pass one the output type holds, or dtype= a type that holds it",
) -> float:
    """The user's fill value, else the first record's nodata, else 0 (every read path).

    A nodata the output type cannot hold is clamped into it, as GDAL's copy does; a fill
    value the caller chose is refused instead (`ValueError`, ending with `advice`: what the
    caller's API lets the user do about it): clamped, -1 marking gaps in uint16 became 0, a
    real value, with nothing (an xarray Dataset has no mask) to tell."""
    if fill is not None and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (math.isfinite(fill) and float(fill).is_integer() and info.min <= fill <= info.max):
            raise ValueError(
                f"fill_value {fill!r} is not a {dtype} value ({info.min}..{info.max}); {advice}"
            )
    if fill is None:
        for src in sources:
            known = np.flatnonzero(src.has_nodata)
            if known.size:
                fill = float(src.nodata[known[0]])
                break
    return fill_value(fill, dtype)


def _target_pixel_in_source(base: G.Grid, target: G.Grid) -> float:
    """Size of one target pixel measured in base-level source pixels (near the centre)."""
    cx, cy = target.width / 2, target.height / 2
    cols = np.array([cx, cx + 1, cx])
    rows = np.array([cy, cy, cy + 1])
    sx, sy = G._to_source_pixels(base, target, cols, rows)
    if not np.isfinite(sx).all():
        return 1.0
    return min(math.hypot(sx[1] - sx[0], sy[1] - sy[0]), math.hypot(sx[2] - sx[0], sy[2] - sy[0]))


def choose_level(
    src: BandSource,
    i: int,
    target: G.Grid,
    scales: dict[tuple[G.Grid, G.Grid], float] | None = None,
) -> int:
    """The coarsest level of record i whose pixels are no larger than the target's.
    `scales` keeps the target's pixel size in base pixels per (base grid, target) across
    calls: the records of a scene series share one grid."""
    n_levels = int(src.level_start[i + 1] - src.level_start[i])
    if n_levels == 1:
        return 0
    base = level_grid(src, i, 0)
    scale = None if scales is None else scales.get((base, target))
    if scale is None:
        scale = _target_pixel_in_source(base, target)
        if scales is not None:
            scales[(base, target)] = scale
    w0 = int(src.levels["width"][int(src.level_start[i])])
    best = 0
    for k in range(1, n_levels):
        factor = w0 / int(src.levels["width"][int(src.level_start[i]) + k])
        if factor <= scale * _OVERVIEW_SLACK:
            best = k
    return best


def plan(
    slots: Sequence[Slot],
    sources: Sequence[BandSource],
    *,
    resampling: G.Resampling,
    fill: float,
    use_overviews: bool = True,
) -> list[_Piece]:
    """The file windows every slot needs (one per slot, record and file)."""
    position = []
    wanted = sorted({r for s in slots for r in s.rows})
    for src in sources:
        n = int(src.rows.max()) + 1 if len(src.rows) else 0
        pos = np.full(n, -1, np.int64)
        pos[src.rows] = np.arange(len(src.rows))
        position.append(pos)
        src.decode_headers(wanted)
    pieces: list[_Piece] = []
    memo = _Memo({}, {}, {})
    for s, slot in enumerate(slots):
        for rank, row in enumerate(slot.rows):
            by_href: dict[str, list[tuple[int, int]]] = {}
            for c, (src, pos) in enumerate(zip(sources, position, strict=True)):
                i = int(pos[row]) if row < len(pos) else -1
                if i >= 0:  # a band missing in this record stays fill
                    by_href.setdefault(src.hrefs[i], []).append((c, i))
            for href, entries in by_href.items():
                c0, i0 = entries[0]
                src = sources[c0]
                piece = _piece(s, rank, slot, src, i0, href, entries, sources,
                               resampling, fill, use_overviews, memo)  # fmt: skip
                if piece is not None:
                    pieces.append(piece)
    return pieces


class _Memo(NamedTuple):
    """What one plan works out once per (level grid, slot grid), not per piece: the records
    of a scene series share their grids, and a batch's slots share theirs."""

    scales: dict[tuple[G.Grid, G.Grid], float]  # choose_level's target pixel size
    aligned: dict[tuple[G.Grid, G.Grid], Window | None]
    warps: dict[tuple[G.Grid, G.Grid, Window | None], _Warp | None]


class _Warp(NamedTuple):
    """How a level of a file is warped onto a slot: the window read and its coordinates."""

    window: Window
    coords: G.CoordinateMap


def _warp_of(src_grid: G.Grid, slot: Slot, resampling: G.Resampling) -> _Warp | None:
    """The source window the slot samples, and where: coordinates of the slot's window
    computed on its whole grid, in the level's pixels, so any window the slot is cut into
    samples where the whole slot does; None when the slot sees none of the level."""
    coords = G.CoordinateMap(src_grid, slot.grid, window=slot.window)
    window = G.sampled_window(coords, src_grid.shape, resampling=resampling)
    return None if window is None else _Warp(window, coords.shifted(window))


def _piece(
    s: int,
    rank: int,
    slot: Slot,
    src: BandSource,
    i: int,
    href: str,
    entries: list[tuple[int, int]],
    sources: Sequence[BandSource],
    resampling: G.Resampling,
    fill: float,
    use_overviews: bool,
    memo: _Memo,
) -> _Piece | None:
    if not np.isfinite(src.transform[i]).all():
        raise CogdexError(f"{href} has no geotransform: it cannot be placed on a grid")
    k = choose_level(src, i, slot.grid, memo.scales) if use_overviews else 0
    src_grid = level_grid(src, i, k)
    header = src.header(i)
    bands = tuple(sources[c].band_index for c, _ in entries)
    targets = tuple(c for c, _ in entries)
    nodata = header.nodata
    source = Source(href, header, src.store_options)
    pair = (src_grid, slot.grid)
    if pair not in memo.aligned:
        memo.aligned[pair] = G.aligned_window(src_grid, slot.grid)
    aligned = memo.aligned[pair]
    if aligned is not None:
        part = slot.block
        window = Window(
            aligned.col_off + part.col_off, aligned.row_off + part.row_off, part.width, part.height
        )
        return _Piece(s, rank, WindowRead(source, window, bands, k, fill=fill), targets,
                      None, None, nodata)  # fmt: skip
    key = (src_grid, slot.grid, slot.window)
    if key not in memo.warps:
        memo.warps[key] = _warp_of(src_grid, slot, resampling)
    how = memo.warps[key]
    if how is None:
        return None
    return _Piece(s, rank, WindowRead(source, how.window, bands, k, fill=fill), targets,
                  src_grid.window_grid(how.window), how.coords, nodata)  # fmt: skip


def _valid(data: np.ndarray, read: WindowRead, nodata: float | None, into: np.ndarray) -> None:
    """Pixels of an aligned window that lie in the image and are not nodata, per band,
    written into `into` (the output's mask itself when the window was read into the output)."""
    level = read.image()
    col, row, w, h = read.window
    if col < 0 or row < 0 or col + w > level.width or row + h > level.height:
        into[...] = False
        into[:, max(0, -row) : max(0, min(h, level.height - row)),
             max(0, -col) : max(0, min(w, level.width - col))] = True  # fmt: skip
        if nodata is not None:
            into &= ~np.isnan(data) if math.isnan(nodata) else data != nodata
    elif nodata is None:  # inside the image (a chip's usual case): one pass, no temporaries
        into[...] = True
    elif math.isnan(nodata):
        np.isnan(data, out=into)
        np.logical_not(into, out=into)
    else:
        np.not_equal(data, nodata, out=into)


def _direct(piece: _Piece, slots: Sequence[Slot], dtype: np.dtype) -> bool:
    """Whether the piece can be written straight into the output: one of a one-record slot
    (nothing to merge), its bands a contiguous run, warped or in the output's dtype."""
    first, n = piece.targets[0], len(piece.targets)
    return (len(slots[piece.slot].rows) == 1 and piece.targets == tuple(range(first, first + n))
            and (piece.source_grid is not None
                 or np.dtype(piece.read.image().dtype) == dtype))  # fmt: skip


def _into_output(pieces: list[_Piece], slots: Sequence[Slot], out: np.ndarray) -> list[_Piece]:
    """`pieces`, the aligned `_direct` ones reading into their block of `out`."""
    result = []
    for p in pieces:
        if p.source_grid is None and _direct(p, slots, out.dtype):
            first = p.targets[0]
            p = replace(p, read=replace(p.read, out=out[p.slot, first : first + len(p.targets)]))
        result.append(p)
    return result


def _held(piece: _Piece, slots: Sequence[Slot], dtype: np.dtype) -> int:
    """Bytes one piece holds while in flight: its window, and its mask, converted copy or
    warped copy and masks (a window read into the output: only its nodata comparison)."""
    h, w = slots[piece.slot].target.shape
    n = len(piece.targets)
    direct = _direct(piece, slots, dtype)
    if direct and piece.source_grid is None:
        return n * h * w
    native = np.dtype(piece.read.image().dtype).itemsize
    window = n * piece.read.window.width * piece.read.window.height * native
    if direct:
        return window + h * w * (n + 1)
    if piece.source_grid is None:
        return window + n * h * w * (1 + (dtype.itemsize if native != dtype.itemsize else 0))
    return window + h * w * (n * (dtype.itemsize + 1) + 1)


def _mask_bytes(piece: _Piece) -> int:
    """The internal mask window a piece holds until its data window is in (1 byte a pixel)."""
    if piece.read.image().mask is None:
        return 0
    return piece.read.window.width * piece.read.window.height


def estimate_peak(
    slots: Sequence[Slot],
    pieces: list[_Piece],
    n_bands: int,
    dtype: np.dtype,
    merge: Merge,
    resampling: G.Resampling = "nearest",
) -> tuple[int, int]:
    """(output bytes, peak bytes) of reading `pieces`: the output and its mask, plus the
    largest pieces that may be in flight at once (two per decode thread: windows fill while
    others are placed) with a decoded tile each, every compressed tile (a fast store hands
    all files' bytes over before they are decoded), the record ranks of open `first`/`last`
    slots, and a reducer's largest slot (its pieces, and the float64 stack of one block of
    rows), and the sample points warps share (`_share_points`: held until their last warp).
    The tile cache is apart: it is bounded by its own size (COGDEX_TILE_CACHE_MB)."""
    h, w = slots[0].target.shape if slots else (0, 0)
    pixels = n_bands * h * w
    output = len(slots) * pixels * (dtype.itemsize + 1)
    k = 2 * runtime.decode_threads()
    held = sorted((_held(p, slots, dtype) + _mask_bytes(p) for p in pieces), reverse=True)
    extra = sum(held[:k]) + _tile_bytes(pieces, k)
    for group in _share_points(pieces, slots, resampling):
        extra += Sampling.nbytes(_pixels(slots[pieces[group[0]].slot]), resampling)
    ranks: dict[int, set[int]] = {}
    for p in pieces:
        ranks.setdefault(p.slot, set()).add(p.rank)
    merged = [len(r) for r in ranks.values() if len(r) > 1]
    if merged and merge in ("first", "last"):
        extra += min(len(merged), k) * pixels * np.min_scalar_type(max(merged)).itemsize
    elif merged:  # the records' pieces held until the last arrives, one block's stack
        rows = min(h, REDUCE_ROWS)
        extra += max(merged) * (pixels * (dtype.itemsize + 1) + rows * w * 16)
    return output, output + extra


SHARED_POINTS_BYTES = 32 << 20
"""At most this many bytes of warp sample points are shared by the warps of one read (see
`warp.Sampling`); warps past it compute their own, block by block, as they did alone."""


def _share_points(
    pieces: Sequence[_Piece], slots: Sequence[Slot], resampling: G.Resampling
) -> list[list[int]]:
    """The groups of warped pieces (positions in `pieces`) that sample the very same points:
    one coordinate map (planned once per level grid and slot, see `_Memo`) used by several
    pieces, in plan order while their points fit in `SHARED_POINTS_BYTES`."""
    by_map: dict[int, list[int]] = {}
    for i, p in enumerate(pieces):
        if p.coords is not None:
            by_map.setdefault(id(p.coords), []).append(i)
    groups, total = [], 0
    for group in by_map.values():
        size = Sampling.nbytes(_pixels(slots[pieces[group[0]].slot]), resampling)
        if len(group) > 1 and total + size <= SHARED_POINTS_BYTES:
            groups.append(group)
            total += size
    return groups


def _pixels(slot: Slot) -> int:
    h, w = slot.target.shape
    return h * w


def _samplings(
    pieces: Sequence[_Piece], slots: Sequence[Slot], resampling: G.Resampling
) -> list[Sampling | None]:
    """Per piece, the sample points it shares with others (None: its warp computes its own)."""
    found: list[Sampling | None] = [None] * len(pieces)
    for group in _share_points(pieces, slots, resampling):
        first = pieces[group[0]]
        assert first.coords is not None and first.source_grid is not None
        shared = Sampling(first.coords, first.source_grid.shape,
                          slots[first.slot].target.shape, resampling, len(group))  # fmt: skip
        for i in group:
            found[i] = shared
    return found


def _tile_bytes(pieces: list[_Piece], k: int) -> int:
    """Compressed bytes of every tile the pieces need (each counted once), and `k` of the
    largest decoded tiles."""
    needed: dict[tuple[str, int], tuple[Level, np.ndarray]] = {}
    largest = 0
    for p in pieces:
        level = p.read.image()
        tiles = plan_window(level, p.read.window, p.read.bands)
        index = tiles.index[~tiles.sparse]
        key = (p.read.source.url, p.read.level)
        if key in needed:
            index = np.union1d(needed[key][1], index)
        needed[key] = (level, index)
        samples = level.samples_per_pixel if level.planar == 1 else 1
        tile = level.tile_width * level.tile_height * samples * np.dtype(level.dtype).itemsize
        largest = max(largest, tile)
    fetched = sum(int(level.tile_byte_counts[index].sum()) for level, index in needed.values())
    return fetched + k * largest


def _check_memory(need: int, output: int, limit: int | None, what: str) -> None:
    if limit is not None and need > limit:
        raise MemoryLimitError(
            f"this read needs about {need / 2**20:,.0f} MiB ({output / 2**20:,.0f} MiB for "
            f"{what} and its mask, the rest for windows in flight and merging), over "
            f"max_memory={limit / 2**20:,.0f} MiB; read fewer geometries or records at a "
            "time, or raise max_memory (None: no limit)"
        )


async def read_slots(
    slots: Sequence[Slot],
    sources: Sequence[BandSource],
    *,
    resampling: G.Resampling = "nearest",
    fill: float | None = None,
    merge: Merge = "first",
    dtype: np.dtype | None = None,
    use_overviews: bool = True,
    max_memory: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read `sources` (one per output band) onto every slot: ([S, C, H, W], valid mask).

    All slots must share one shape. Pixels no record covers hold the fill value. Memory
    stays near the output's: records of one-record slots decode (aligned) or warp straight
    into it, the other pieces are merged as they arrive and dropped. A read whose
    `estimate_peak` exceeds `max_memory` bytes raises `MemoryLimitError` before any request
    or allocation.
    """
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {', '.join(MERGES)}, not {merge!r}")
    shapes = {s.target.shape for s in slots}
    if len(shapes) > 1:
        raise ValueError(f"slots have different shapes {sorted(shapes)}")
    native = output_dtype(sources, sorted({r for s in slots for r in s.rows}))
    out_dtype = np.dtype(dtype) if dtype is not None else native
    if dtype is None and resampling == "bilinear" and native.kind in "iu":
        out_dtype = np.dtype(np.float32)
        warnings.warn(
            f"bilinear resampling of {native} bands returns float32; pass dtype={native.name!r} "
            "to round back to the native type",
            stacklevel=3,
        )
    fill_v = default_fill(sources, out_dtype, fill)
    (h, w) = shapes.pop() if shapes else (0, 0)
    n_bands = len(sources)
    what = f"{len(slots)} x {n_bands} x {h} x {w} {out_dtype}"
    output = len(slots) * n_bands * h * w * (out_dtype.itemsize + 1)
    _check_memory(output, output, max_memory, what)  # before planning a read that cannot fit
    pieces = plan(slots, sources, resampling=resampling, fill=fill_v, use_overviews=use_overviews)
    if max_memory is not None:  # the estimate plans every tile again: only when asked
        _check_memory(estimate_peak(slots, pieces, n_bands, out_dtype, merge, resampling)[1],
                      output, max_memory, what)  # fmt: skip
    out = np.full((len(slots), n_bands, h, w), fill_v, dtype=out_dtype)
    valid = np.zeros(out.shape, dtype=bool)
    pieces = _into_output(pieces, slots, out)
    samplings = _samplings(pieces, slots, resampling)
    direct = [_direct(p, slots, out_dtype) for p in pieces]
    merger = _Merger(out, valid, [p for p, d in zip(pieces, direct, strict=True) if not d],
                     merge, fill_v)  # fmt: skip
    targets = [s.target for s in slots]
    # Pieces whose invalid pixels already hold the fill, bit for bit: outside the image or
    # the source (the window's or the warp's own fill) or equal to an integer nodata that
    # is the fill itself.
    same = out_dtype.kind in "iu" and float(out_dtype.type(fill_v)) == fill_v
    keeps = [same and p.nodata == fill_v for p in pieces]

    def place(i: int, data: np.ndarray, masked: np.ndarray | None) -> None:
        """Onto the slot's grid and into the output, as soon as the piece is read (on the
        decode pool); the window is dropped when this returns. `masked`: the pixels of the
        window its file's internal mask marks valid (None: no mask)."""
        piece = pieces[i]
        if direct[i]:
            first = piece.targets[0]
            block = np.s_[piece.slot, first : first + len(piece.targets)]
            if piece.source_grid is None:
                _valid(data, piece.read, piece.nodata, valid[block])
                if masked is not None:
                    valid[block] &= masked
            else:
                _warp_into(data, piece.source_grid, targets[piece.slot], piece, samplings[i],
                           out[block], valid[block], resampling, fill_v, masked)  # fmt: skip
            if (piece.nodata is not None and not keeps[i]) or masked is not None:
                # nodata values, and what the mask hides, came in as they are
                np.copyto(out[block], out_dtype.type(fill_v), where=~valid[block])
            return
        if piece.source_grid is None:
            ok = np.empty(data.shape, bool)
            _valid(data, piece.read, piece.nodata, ok)
            if masked is not None:
                ok &= masked
            if data.dtype != out_dtype:
                data = convert(data, out_dtype)
        else:
            data, ok2 = _warped(data, piece.source_grid, targets[piece.slot], piece, samplings[i],
                                resampling=resampling, fill=fill_v, dtype=out_dtype,
                                valid=masked)  # fmt: skip
            ok = np.broadcast_to(ok2, data.shape)
            if piece.nodata is not None and not math.isnan(piece.nodata):
                ok = ok & (data != piece.nodata)
        merger.add(piece, data, ok)

    reads, paired = _with_masks(pieces)
    shared = {id(s): s for s in samplings if s is not None}
    ahead = [s.prepare for s in shared.values()]
    await read_windows(reads, on_window=paired(place), ahead=ahead)
    return out, valid


def _with_masks(
    pieces: list[_Piece],
) -> tuple[list[WindowRead], Callable[[Callable[[int, np.ndarray, np.ndarray | None], None]],
                                      Callable[[int, np.ndarray], None]]]:  # fmt: skip
    """The reads of `pieces`, plus the internal mask window of each piece whose level has
    one (GDAL's per-dataset mask: its 0 pixels are not data, whatever they hold), and a
    wrapper that hands a piece over once both its window and its mask are in."""
    reads = [p.read for p in pieces]
    mask_of: dict[int, int] = {}  # read position -> piece, for the mask reads
    for i, p in enumerate(pieces):
        if p.read.image().mask is not None:
            mask_of[len(reads)] = i
            reads.append(replace(p.read, bands=(0,), mask=True, fill=None, out=None))
    has_mask = set(mask_of.values())
    waiting: dict[int, np.ndarray] = {}
    lock = threading.Lock()

    def paired(
        place: Callable[[int, np.ndarray, np.ndarray | None], None],
    ) -> Callable[[int, np.ndarray], None]:
        def arrive(j: int, array: np.ndarray) -> None:
            i = mask_of.get(j, j)
            if i not in has_mask:
                place(i, array, None)
                return
            with lock:
                other = waiting.pop(i, None)
                if other is None:
                    waiting[i] = array
                    return
            data, mask = (other, array) if j in mask_of else (array, other)
            place(i, data, mask[0] != 0)

        return arrive

    return reads, paired


def _warped(data: np.ndarray, source: G.Grid, target: G.Grid, piece: _Piece,
            sampling: Sampling | None, **how: Any) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """`warp` of a piece, with the sample points it shares when it shares them (released by
    their last user)."""
    if sampling is None:
        return warp(data, source, target, nodata=piece.nodata, coords=piece.coords, **how)
    try:
        return warp(data, source, target, nodata=piece.nodata, sampling=sampling, **how)
    finally:
        sampling.done()


def _warp_into(data: np.ndarray, source: G.Grid, target: G.Grid, piece: _Piece,
               sampling: Sampling | None, out: np.ndarray, valid: np.ndarray,
               resampling: G.Resampling, fill: float,
               masked: np.ndarray | None) -> None:  # fmt: skip
    """Warp a piece of a one-record slot straight into its block of the output and mask
    (values equal to nodata, and pixels the internal mask hides, are not valid)."""
    _, mask = _warped(data, source, target, piece, sampling, resampling=resampling, fill=fill,
                      dtype=out.dtype, out=out, valid=masked)  # fmt: skip
    valid[...] = mask
    if piece.nodata is not None and not math.isnan(piece.nodata):
        valid &= out != piece.nodata


class _Merger:
    """Merges pieces into the output as they arrive, in any order, with the result of a
    merge in record order. One-record slots are copied; `first`/`last` keep, per pixel, the
    rank of the record it came from, only while the slot has pieces to come; reducers hold
    the slot's pieces until its last one is in."""

    def __init__(self, out: np.ndarray, valid: np.ndarray, pieces: list[_Piece], merge: Merge,
                 fill: float) -> None:  # fmt: skip
        self.out, self.valid, self.merge, self.fill = out, valid, merge, fill
        ranks: list[set[int]] = [set() for _ in range(len(out))]
        self.pending = np.zeros(len(out), np.int64)
        for p in pieces:
            ranks[p.slot].add(p.rank)
            self.pending[p.slot] += 1
        self.ranks = [max(r, default=0) + 1 if len(r) > 1 else 1 for r in ranks]
        self.owner: dict[int, np.ndarray] = {}  # slot -> merge key of each pixel's record
        self.held: dict[int, list[tuple[_Piece, np.ndarray, np.ndarray]]] = {}
        self.locks = [threading.Lock() for _ in range(len(out))]

    def add(self, piece: _Piece, data: np.ndarray, ok: np.ndarray) -> None:
        s = piece.slot
        with self.locks[s]:
            if self.ranks[s] == 1:
                for j, c in enumerate(piece.targets):
                    np.copyto(self.out[s, c], data[j], where=ok[j])
                    self.valid[s, c] |= ok[j]
            elif self.merge in ("first", "last"):
                self._ordered(piece, data, ok)
            else:
                self.held.setdefault(s, []).append((piece, data, ok))
            self.pending[s] -= 1
            if self.pending[s] == 0:
                self.owner.pop(s, None)
                items = self.held.pop(s, None)
                if items is not None:
                    items.sort(key=lambda it: it[0].rank)
                    _reduce(self.out[s], self.valid[s], items, self.merge, self.fill)

    def _ordered(self, piece: _Piece, data: np.ndarray, ok: np.ndarray) -> None:
        """A pixel takes this piece's value where it is valid and no earlier record (in the
        merge's order) has given one: the lowest key wins."""
        s = piece.slot
        n = self.ranks[s]
        owner = self.owner.get(s)
        if owner is None:
            owner = self.owner[s] = np.full(self.out.shape[1:], n, np.min_scalar_type(n))
        key = piece.rank if self.merge == "first" else n - 1 - piece.rank
        for j, c in enumerate(piece.targets):
            take = ok[j] & (owner[c] > key)
            np.copyto(self.out[s, c], data[j], where=take)
            np.copyto(owner[c], key, where=take)
            self.valid[s, c] |= ok[j]


REDUCE_ROWS = 64
"""Rows of an image a min/max/mean/median merge reduces at once (see `_reduce`)."""


def _reduce(
    out: np.ndarray,
    valid: np.ndarray,
    items: list[tuple[_Piece, np.ndarray, np.ndarray]],
    merge: Merge,
    fill: float,
) -> None:
    """min/max/mean/median over the valid pixels of every record, band by band and
    `REDUCE_ROWS` rows at a time: the float64 stack of the records (8 bytes per pixel and
    record, twice while it is built) exists for one block of rows, not the whole image.
    Pixels are reduced independently, so the blocks change no bit of the result."""
    reducers: dict[str, Callable[..., np.ndarray]] = {
        "min": np.nanmin, "max": np.nanmax, "mean": np.nanmean, "median": np.nanmedian,
    }  # fmt: skip
    reducer = reducers[merge]
    # min/max of integers pick one record's value: taken in the native type, as float64
    # cannot hold every 64-bit integer (2**60 + 1 came out as 2**60, a value no record has)
    exact = merge in ("min", "max") and out.dtype.kind in "iu"
    for c in range(out.shape[0]):
        layers = [
            (data[j], ok[j]) for piece, data, ok in items for j, t in enumerate(piece.targets)
            if t == c
        ]  # fmt: skip
        if not layers:
            continue
        for r0 in range(0, out.shape[1], REDUCE_ROWS):
            rows = slice(r0, r0 + REDUCE_ROWS)
            if exact:
                _pick(out[c, rows], valid[c, rows], [(d[rows], ok[rows]) for d, ok in layers],
                      merge, fill)  # fmt: skip
                continue
            stack = np.stack(
                [np.where(ok[rows], d[rows].astype(np.float64), np.nan) for d, ok in layers]
            )
            any_ok = np.any([ok[rows] for _, ok in layers], axis=0)
            # A pixel no record covers gets the fill below; a 0 there spares numpy's
            # all-NaN warning, which `warnings.catch_warnings` cannot hold back reliably
            # while other threads (the decode pool, Dask's) run.
            stack[:, ~any_ok] = 0.0
            reduced = reducer(stack, axis=0)
            if out.dtype.kind in "iu":
                info = np.iinfo(out.dtype)
                reduced = np.clip(np.floor(reduced + 0.5), info.min, info.max)
            out[c, rows] = np.where(any_ok, reduced, fill).astype(out.dtype)
            valid[c, rows] = any_ok


def _pick(
    out: np.ndarray, valid: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]],
    merge: Merge, fill: float,
) -> None:  # fmt: skip
    """min/max of integer layers over their valid pixels, in the output's own type."""
    info = np.iinfo(out.dtype)
    empty = out.dtype.type(info.max if merge == "min" else info.min)
    stack = np.stack([np.where(ok, d.astype(out.dtype, copy=False), empty) for d, ok in layers])
    any_ok = np.any([ok for _, ok in layers], axis=0)
    reduced = stack.min(axis=0) if merge == "min" else stack.max(axis=0)
    out[...] = np.where(any_ok, reduced, out.dtype.type(fill))
    valid[...] = any_ok


__all__ = [
    "MERGES",
    "REDUCE_ROWS",
    "Merge",
    "choose_level",
    "default_fill",
    "estimate_peak",
    "output_dtype",
    "plan",
    "read_slots",
]
