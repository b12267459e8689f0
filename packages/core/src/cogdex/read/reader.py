"""Windows of many files -> arrays: plan, claim cached tiles, coalesced fetch, decode, paste.

One call reads any number of windows from any number of COGs as one plan: the tiles of all
windows are deduplicated and looked up in the tile cache; the missing ones are fetched per
file with coalesced range requests, every file concurrently; each file's tiles are decoded on
the decode pool as soon as its bytes arrive (decode overlaps the network), and each decoded
tile is pasted into every window that needs it. Reading needs no header request: a `Source`
carries the parsed header (from `cogdex.open` or from the index).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cogdex.errors import DecodeError, TruncatedTIFF
from cogdex.io import fetch, runtime
from cogdex.read import mosaic
from cogdex.read.plan import TilePlan, clip, plan_window
from cogdex.read.tilecache import TileCache, TileKey, tile_cache
from cogdex.read.window import Window
from cogdex.redact import safe_url
from cogdex.tiff import codecs
from cogdex.tiff.model import ByteOrder, Level, TIFFHeader


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """One file to read from: its URL, parsed header and store options (plain, picklable)."""

    url: str
    header: TIFFHeader
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # credentials


@dataclass(frozen=True, slots=True, eq=False)
class WindowRead:
    """A window of one level of one file, for some bands (0-based samples).

    `level` indexes `header.levels` (0 = full resolution, 1 = first overview); `mask` reads
    the level's internal mask instead (its stored values: 0/1 for 1-bit masks). `fill`
    overrides the fill value (default: the file's nodata, else 0). `out`, when given, is
    the (bands, height, width) array to read into.
    """

    source: Source
    window: Window
    bands: tuple[int, ...] = (0,)
    level: int = 0
    mask: bool = False
    fill: float | None = None
    out: np.ndarray | None = None

    def image(self) -> Level:
        return _image(self.source, self.level, self.mask)


def _image(source: Source, level: int, mask: bool) -> Level:
    """Level `level` of the file, or its internal mask."""
    image = source.header.levels[level]
    if mask:
        if image.mask is None:
            raise ValueError(f"{safe_url(source.url)} has no internal mask at level {level}")
        return image.mask
    return image


def tile_key(source: Source, level: Level, tile: int) -> TileKey:
    """What makes a decoded tile reusable: the file (URL and version: size, ETag,
    Last-Modified, so a file rewritten in place never serves its old tiles under its new
    header), the tile and its bytes, and who reads it (the store options, credentials
    included), so a tile cached by a signed read is never handed to a read without those
    credentials."""
    return (
        source.url,
        level.ifd_offset,
        tile,
        int(level.tile_offsets[tile]),
        int(level.tile_byte_counts[tile]),
        source.header.size,
        source.header.etag,
        source.header.last_modified,
        level.dtype,
        level.samples_per_pixel,
        level.planar,
        level.tile_width,
        level.tile_height,
        _reader(source.options),
    )


def _reader(options: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), repr(v)) for k, v in options.items())) if options else ()


OnTile = Callable[[TileKey, np.ndarray], None]
"""Called on the decode pool with each tile of a call, once per tile."""


@dataclass(frozen=True, slots=True, eq=False)
class TileRead:
    """One tile (index as TIFF numbers them, planes included) of a level of a file."""

    source: Source
    tile: int
    level: int = 0
    mask: bool = False

    def image(self) -> Level:
        return _image(self.source, self.level, self.mask)


@dataclass(slots=True)
class _Use:
    """Where one tile goes: window `read` of the call, entry `entry` of its plan."""

    read: int
    entry: int


def _fill_for(read: WindowRead, dtype: np.dtype) -> Any:
    if read.mask:
        return 0
    nodata = read.fill if read.fill is not None else read.source.header.nodata
    return mosaic.fill_value(nodata, dtype)


def _output(read: WindowRead, dtype: np.dtype, covered: bool = False) -> np.ndarray:
    """The array a window is read into, filled with its fill value unless its tiles
    cover it (`covered`: every pixel is pasted, a fill would be overwritten)."""
    shape = (len(read.bands), read.window.height, read.window.width)
    if read.out is None:
        if covered:
            return np.empty(shape, dtype)
        return mosaic.allocate(*shape, dtype, _fill_for(read, dtype))
    if read.out.shape != shape or read.out.dtype != dtype:
        raise ValueError(
            f"out must be {dtype} of shape {shape}, not {read.out.dtype} {read.out.shape}"
        )
    if not covered:
        read.out[...] = _fill_for(read, dtype)
    return read.out


async def read_windows(
    reads: Sequence[WindowRead],
    *,
    cache: TileCache | None = None,
    on_window: Callable[[int, np.ndarray], None] | None = None,
    ahead: Sequence[Callable[[], object]] = (),
) -> list[np.ndarray]:
    """Read every window; returns one (bands, height, width) array per read, in order.

    Windows may hang off the image (fill). `cache` defaults to this process's tile cache;
    pass `TileCache(0)` to read without keeping tiles. `on_window(i, array)` is called once
    per window as soon as its last tile is in, on the decode pool (so work on a finished
    window, a warp say, overlaps the fetch of the others); windows that need no tile are
    handed over at once. With `on_window` nothing is returned and no window is kept: an
    array exists from its first tile until `on_window` returns, so a call holds only the
    windows in flight, not all of them. `ahead`: work `on_window` will need (a warp's
    sample points), run on the decode pool while the tiles are in flight.
    """
    images = [r.image() for r in reads]
    plans = [plan_window(img, r.window, r.bands) for img, r in zip(images, reads, strict=True)]
    uses: dict[TileKey, list[_Use]] = {}
    tiles: dict[TileKey, tuple[Source, Level]] = {}
    for i, (read, img, plan) in enumerate(zip(reads, images, plans, strict=True)):
        for j in np.flatnonzero(~plan.sparse).tolist():
            key = tile_key(read.source, img, int(plan.index[j]))
            uses.setdefault(key, []).append(_Use(i, j))
            tiles.setdefault(key, (read.source, img))
    paster = _Paster(reads, images, plans, on_window)
    if on_window is not None:
        for i in np.flatnonzero(paster.remaining == 0).tolist():
            paster.hand_over(i, on_window)
    obtain = _obtain(tiles, lambda key, tile: paster.paste(tile, uses[key]), cache)
    if ahead:
        loop = asyncio.get_running_loop()
        await _gather([loop.create_task(obtain), loop.create_task(_while_fetching(ahead))])
    else:
        await obtain
    return [] if on_window is not None else [paster.array(i) for i in range(len(reads))]


async def _while_fetching(jobs: Sequence[Callable[[], object]]) -> None:
    """Run `jobs` on the decode pool once the read's GETs are out: a step after the files'
    fetches have sent theirs (`_SEND_STEPS`), since the jobs hold the GIL that sending
    needs."""
    for _ in range(_SEND_STEPS + 1):
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()
    await _gather([loop.run_in_executor(pool, job) for job in jobs])


async def for_each_tile(
    tiles: Sequence[TileRead],
    consume: Callable[[int, np.ndarray], None],
    *,
    cache: TileCache | None = None,
    max_files: int | None = None,
) -> None:
    """Decode each tile and hand it to `consume(position, tile)` on the decode pool.

    For workloads that use each tile once (point sampling): tiles are dropped after
    `consume` unless the cache keeps them, and at most `max_files` files are fetched at a
    time, which bounds memory. Sparse tiles (no data in the file) are not passed.
    """
    wanted: dict[TileKey, tuple[Source, Level]] = {}
    positions: dict[TileKey, list[int]] = {}
    for n, t in enumerate(tiles):
        level = t.image()
        if level.tile_offsets[t.tile] == 0 or level.tile_byte_counts[t.tile] == 0:
            continue
        key = tile_key(t.source, level, t.tile)
        wanted.setdefault(key, (t.source, level))
        positions.setdefault(key, []).append(n)

    def on_tile(key: TileKey, tile: np.ndarray) -> None:
        for n in positions[key]:
            consume(n, tile)

    await _obtain(wanted, on_tile, cache, max_files=max_files)


async def _obtain(
    tiles: dict[TileKey, tuple[Source, Level]],
    on_tile: OnTile,
    cache: TileCache | None,
    *,
    max_files: int | None = None,
) -> None:
    """Every tile of `tiles` to `on_tile`: cached ones at once, tiles other readers are
    loading when they arrive, the rest fetched per file (coalesced) and decoded."""
    if not tiles:
        return
    cache = tile_cache() if cache is None else cache
    claim = cache.claim(tiles)
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()
    jobs: list[asyncio.Future] = []
    hits = list(claim.hits.items())
    shares = min(len(hits), runtime.decode_threads())
    for k in range(shares):  # one job per thread: a job per tile costs more than its paste
        jobs.append(loop.run_in_executor(pool, _use_each, on_tile, hits[k::shares]))
    by_file: dict[tuple[Any, ...], list[TileKey]] = {}
    for key in claim.mine:  # one version of one file (size, ETag, Last-Modified), one reader
        by_file.setdefault((key[0], *key[5:8], key[-1]), []).append(key)
    limit = asyncio.Semaphore(max_files) if max_files else None
    try:
        for keys in by_file.values():
            source = tiles[keys[0]][0]
            levels = [tiles[k][1] for k in keys]
            jobs.append(loop.create_task(_load_file(source, keys, levels, on_tile, cache, limit)))
        for key, future in claim.waiting.items():
            jobs.append(loop.create_task(_await_tile(key, tiles[key], future, on_tile, cache)))
        await _gather(jobs)
    except BaseException as exc:
        cache.fail(claim.mine, exc if isinstance(exc, Exception) else LoaderCancelled())
        raise


def _use_each(on_tile: OnTile, tiles: list[tuple[TileKey, np.ndarray]]) -> None:
    for key, tile in tiles:
        on_tile(key, tile)


async def _gather(jobs: list[asyncio.Future]) -> None:
    """Wait for all; at the first failure cancel the rest and raise it (not a group)."""
    try:
        await asyncio.gather(*jobs)
    except BaseException:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        raise


class LoaderCancelled(Exception):
    """The reader loading a tile was cancelled (its read deadline passed, or its caller
    stopped): a reader that was waiting for the tile loads it itself."""


async def _await_tile(
    key: TileKey,
    where: tuple[Source, Level],
    future: asyncio.Future,
    on_tile: OnTile,
    cache: TileCache,
) -> None:
    try:
        tile = await future
    except LoaderCancelled:
        await _obtain({key: where}, on_tile, cache)
        return
    await asyncio.get_running_loop().run_in_executor(runtime.decode_pool(), on_tile, key, tile)


async def _load_file(
    source: Source,
    keys: list[TileKey],
    levels: list[Level],
    on_tile: OnTile,
    cache: TileCache,
    limit: asyncio.Semaphore | None,
) -> None:
    """Fetch this file's missing tiles in coalesced requests, then decode each on the pool
    and hand it to `on_tile`."""
    if limit is not None:
        async with limit:
            return await _load_file(source, keys, levels, on_tile, cache, None)
    header = source.header
    ranges = [(k[3], k[3] + k[4]) for k in keys]  # the key holds the tile's offset and size
    for key, (start, end) in zip(keys, ranges, strict=True):
        if end > header.size:
            raise TruncatedTIFF(
                f"tile {key[2]} ends past the end of the {header.size}-byte file",
                source=source.url,
                offset=start,
            )
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()
    # The decoders are built on the decode pool while the bytes are in flight: the first
    # ones of a process load imagecodecs' codec modules (10-20 ms), which would otherwise
    # stand between the last byte and the first decode. They start once the fetch has
    # sent its GETs (see `_SEND_STEPS`), as an import holds the GIL that sending needs.
    fetched = loop.create_task(_fetch_tiles(source, ranges))
    for _ in range(_SEND_STEPS):
        await asyncio.sleep(0)
    built = loop.run_in_executor(pool, _decoders, levels, header.byte_order)
    await _gather([fetched, built])
    datas, decoders = fetched.result(), built.result()

    async def one(key: TileKey, level: Level, data: memoryview) -> None:
        decode = decoders[level.ifd_offset]
        tile = await loop.run_in_executor(
            pool, _decode_and_use, decode, data, key, level, source.url, on_tile
        )
        cache.fill(key, tile)

    await _gather(
        [loop.create_task(one(k, lv, d)) for k, lv, d in zip(keys, levels, datas, strict=True)]
    )


_SEND_STEPS = 2
"""Loop steps a file's fetch takes to send its GETs: its store and ranges, then one task per
GET. (Three, so that every file's GETs leave before the first decoders' build, sent the 24
GETs of a cold TorchGeo batch within ~1 ms instead of 5-13, but the batch ended no sooner:
GETs that share the link from one instant all finish near its end; docs/benchmarks.md.)"""


async def _fetch_tiles(source: Source, ranges: list[tuple[int, int]]) -> list[memoryview]:
    try:
        header = source.header
        version = fetch.ObjectVersion(header.size, header.etag, header.last_modified)
        return await fetch.read_ranges(source.url, ranges, options=source.options, version=version)
    except fetch.OutsideObjectError as exc:
        raise TruncatedTIFF(
            f"the file ends before a tile its header lists ({exc.reason})",
            source=source.url,
            offset=exc.byte_range[0] if exc.byte_range else None,
        ) from exc


def _decoders(levels: list[Level], byte_order: ByteOrder) -> dict[int, codecs.Decoder]:
    """One decoder per level (by IFD offset) of a file's tiles."""
    found: dict[int, codecs.Decoder] = {}
    for level in levels:
        if level.ifd_offset not in found:
            found[level.ifd_offset] = codecs.decoder(level, byte_order)
    return found


def _decode_and_use(
    decode: codecs.Decoder, data: memoryview, key: TileKey, level: Level, url: str, on_tile: OnTile
) -> np.ndarray:
    tile_index = key[2]
    try:
        tile = decode(data)
    except Exception as exc:
        raise DecodeError(
            f"tile {tile_index} of the image at IFD offset {level.ifd_offset} cannot be "
            f"decoded: {exc}",
            source=url,
            offset=int(level.tile_offsets[tile_index]),
        ) from exc
    row = (tile_index % (level.tiles_across * level.tiles_down)) // level.tiles_across
    rows = min(level.tile_height, level.height - row * level.tile_height)
    samples = level.samples_per_pixel if level.planar == 1 else 1
    if tile.ndim != 3 or tile.shape[0] < rows or tile.shape[1:] != (level.tile_width, samples):
        raise DecodeError(
            f"tile {tile_index} decoded to shape {tile.shape}, not ({rows}+, "
            f"{level.tile_width}, {samples})",
            source=url,
            offset=int(level.tile_offsets[tile_index]),
        )
    on_tile(key, tile)
    return tile


class _Paster:
    """Pastes decoded tiles into the call's output windows (runs on the decode pool; tiles
    write disjoint regions, so several threads can paste into one window at once), and
    hands each window to `on_window` when its last tile is pasted. A window's array is
    allocated at its first tile and, with `on_window`, dropped once handed over."""

    def __init__(
        self,
        reads: Sequence[WindowRead],
        images: list[Level],
        plans: list[TilePlan],
        on_window: Callable[[int, np.ndarray], None] | None = None,
    ) -> None:
        self.reads = reads
        self.images = images
        self.plans = plans
        self.outs: list[np.ndarray | None] = [None] * len(reads)
        self.on_window = on_window
        self.remaining = np.array([int((~p.sparse).sum()) for p in plans], np.int64)
        # Windows inside their image with no sparse tile: pasting writes every pixel.
        self.covered = [
            len(p) > 0 and not p.sparse.any() and clip(r.window, img.width, img.height) == r.window
            for r, img, p in zip(reads, images, plans, strict=True)
        ]
        self._lock = threading.Lock()
        self._allocating = [threading.Lock() for _ in reads]  # a window's first tiles wait

    def array(self, i: int) -> np.ndarray:
        """Window i's array, allocated (filled) once, by the first thread that needs it."""
        out = self.outs[i]
        if out is None:
            with self._allocating[i]:
                out = self.outs[i]
                if out is None:
                    dtype = np.dtype(self.images[i].dtype)
                    out = _output(self.reads[i], dtype, self.covered[i])
                    self._paint_sparse(i, out)
                    self.outs[i] = out
        return out

    def _paint_sparse(self, i: int, out: np.ndarray) -> None:
        """Sparse tiles read as the file's own empty value (its nodata, else 0), as GDAL
        reads them, also when the read asked for another fill (that one is for pixels off
        the image): a fill of 255 there was a value the file never holds, and valid."""
        read, level, plan = self.reads[i], self.images[i], self.plans[i]
        if read.fill is None or read.mask or not plan.sparse.any():
            return
        value = mosaic.fill_value(read.source.header.nodata, out.dtype)
        for j in np.flatnonzero(plan.sparse).tolist():
            if level.planar == 2:
                targets = [k for k, b in enumerate(read.bands) if b == int(plan.plane[j])]
            else:
                targets = list(range(len(read.bands)))
            mosaic.paint(
                out,
                value,
                window=plan.window,
                origin=(int(plan.row[j]) * level.tile_height, int(plan.col[j]) * level.tile_width),
                shape=(level.tile_height, level.tile_width),
                image=(level.width, level.height),
                targets=targets,
            )

    def hand_over(self, i: int, on_window: Callable[[int, np.ndarray], None]) -> None:
        out = self.array(i)
        self.outs[i] = None
        on_window(i, out)

    def paste(self, tile: np.ndarray, uses: list[_Use]) -> None:
        for use in uses:
            self._paste(tile, use)
        if self.on_window is None:
            return
        done = []
        with self._lock:
            for use in uses:
                self.remaining[use.read] -= 1
                if self.remaining[use.read] == 0:
                    done.append(use.read)
        for i in done:
            self.hand_over(i, self.on_window)

    def _paste(self, tile: np.ndarray, use: _Use) -> None:
        read, level, plan = self.reads[use.read], self.images[use.read], self.plans[use.read]
        j = use.entry
        bands = read.bands
        if level.planar == 2:
            plane = int(plan.plane[j])
            targets = [k for k, b in enumerate(bands) if b == plane]
            samples = [0] * len(targets)
        else:
            targets = list(range(len(bands)))
            samples = list(bands)
        mosaic.paste(
            self.array(use.read),
            tile,
            window=plan.window,
            origin=(int(plan.row[j]) * level.tile_height, int(plan.col[j]) * level.tile_width),
            image=(level.width, level.height),
            samples=samples,
            targets=targets,
        )


def read_windows_sync(
    reads: Sequence[WindowRead], *, cache: TileCache | None = None
) -> list[np.ndarray]:
    """`read_windows` from synchronous code (works inside Jupyter and DataLoader workers)."""
    return fetch.run_read(read_windows(reads, cache=cache))


__all__ = [
    "LoaderCancelled",
    "OnTile",
    "Source",
    "TileRead",
    "WindowRead",
    "for_each_tile",
    "read_windows",
    "read_windows_sync",
    "tile_key",
]
