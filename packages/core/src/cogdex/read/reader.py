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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cogdex.errors import DecodeError, TruncatedTIFF
from cogdex.io import fetch, runtime
from cogdex.read import mosaic
from cogdex.read.plan import TilePlan, Window, plan_window
from cogdex.read.tilecache import TileCache, tile_cache
from cogdex.tiff import codecs
from cogdex.tiff.model import Level, TIFFHeader


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """One file to read from: its URL, parsed header and store options (plain, picklable)."""

    url: str
    header: TIFFHeader
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class WindowRead:
    """A window of one level of one file, for some bands (0-based samples).

    `level` indexes `header.levels` (0 = full resolution, 1 = first overview); `mask` reads
    the level's internal mask instead (GDAL's 0/255). `fill` overrides the fill value
    (default: the file's nodata, else 0).
    """

    source: Source
    window: Window
    bands: tuple[int, ...] = (0,)
    level: int = 0
    mask: bool = False
    fill: float | None = None

    def image(self) -> Level:
        level = self.source.header.levels[self.level]
        if self.mask:
            if level.mask is None:
                raise ValueError(f"{self.source.url} has no internal mask at level {self.level}")
            return level.mask
        return level


TileKey = tuple[str, int, int]
"""(url, IFD offset of the level, tile index)."""


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


async def read_windows(
    reads: Sequence[WindowRead], *, cache: TileCache | None = None
) -> list[np.ndarray]:
    """Read every window; returns one (bands, height, width) array per read, in order.

    Windows may hang off the image (fill). `cache` defaults to this process's tile cache;
    pass `TileCache(0)` to read without keeping tiles.
    """
    cache = tile_cache() if cache is None else cache
    images = [r.image() for r in reads]
    plans = [plan_window(img, r.window, r.bands) for img, r in zip(images, reads, strict=True)]
    outs = [
        mosaic.allocate(
            len(r.bands),
            r.window[3],
            r.window[2],
            np.dtype(img.dtype),
            _fill_for(r, np.dtype(img.dtype)),
        )
        for r, img in zip(reads, images, strict=True)
    ]
    uses: dict[TileKey, list[_Use]] = {}
    for i, (read, img, plan) in enumerate(zip(reads, images, plans, strict=True)):
        for j in np.flatnonzero(~plan.sparse).tolist():
            key = (read.source.url, img.ifd_offset, int(plan.index[j]))
            uses.setdefault(key, []).append(_Use(i, j))
    if not uses:
        return outs

    claim = cache.claim(uses)
    paster = _Paster(reads, images, plans, outs)
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()
    jobs: list[asyncio.Future] = []
    if claim.hits:
        hits = [(claim.hits[k], uses[k]) for k in claim.hits]
        jobs.append(loop.run_in_executor(pool, paster.paste_many, hits))

    by_file: dict[str, list[TileKey]] = {}
    for key in claim.mine:
        by_file.setdefault(key[0], []).append(key)
    first = {r.source.url: i for i, r in reversed(list(enumerate(reads)))}
    try:
        for url, keys in by_file.items():
            read = reads[first[url]]
            jobs.append(
                loop.create_task(_load_file(read.source, keys, uses, images, reads, paster, cache))
            )
        for key, future in claim.waiting.items():
            jobs.append(loop.create_task(_await_and_paste(future, uses[key], paster)))
        await _gather(jobs)
    except BaseException as exc:
        cache.fail(claim.mine, exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
        raise
    return outs


async def _gather(jobs: list[asyncio.Future]) -> None:
    """Wait for all; at the first failure cancel the rest and raise it (not a group)."""
    try:
        await asyncio.gather(*jobs)
    except BaseException:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        raise


async def _await_and_paste(future: asyncio.Future, uses: list[_Use], paster: _Paster) -> None:
    tile = await future
    await asyncio.get_running_loop().run_in_executor(
        runtime.decode_pool(), paster.paste_many, [(tile, uses)]
    )


async def _load_file(
    source: Source,
    keys: list[TileKey],
    uses: dict[TileKey, list[_Use]],
    images: list[Level],
    reads: Sequence[WindowRead],
    paster: _Paster,
    cache: TileCache,
) -> None:
    """Fetch this file's missing tiles in coalesced requests, then decode and paste each."""
    header = source.header
    levels = {}
    for key in keys:
        use = uses[key][0]
        levels[key] = images[use.read]
    offsets = np.array([int(levels[k].tile_offsets[k[2]]) for k in keys], dtype=np.int64)
    counts = np.array([int(levels[k].tile_byte_counts[k[2]]) for k in keys], dtype=np.int64)
    ends = offsets + counts
    past = np.flatnonzero(ends > header.size)
    if past.size:
        k = keys[int(past[0])]
        raise TruncatedTIFF(
            f"tile {k[2]} ends past the end of the {header.size}-byte file",
            source=source.url,
            offset=int(offsets[past[0]]),
        )
    datas = await fetch.read_ranges(
        source.url, list(zip(offsets.tolist(), ends.tolist(), strict=True)), options=source.options
    )
    decoders: dict[int, codecs.Decoder] = {}
    loop = asyncio.get_running_loop()
    pool = runtime.decode_pool()

    async def one(key: TileKey, data: memoryview) -> None:
        level = levels[key]
        decode = decoders.get(level.ifd_offset)
        if decode is None:
            decode = decoders[level.ifd_offset] = codecs.decoder(level, header.byte_order)
        tile = await loop.run_in_executor(
            pool, paster.decode_and_paste, decode, data, key, level, uses[key], source.url
        )
        cache.fill(key, tile)

    await _gather([loop.create_task(one(k, d)) for k, d in zip(keys, datas, strict=True)])


class _Paster:
    """Pastes decoded tiles into the call's output windows (runs on the decode pool; tiles
    write disjoint regions, so several threads can paste into one window at once)."""

    def __init__(
        self,
        reads: Sequence[WindowRead],
        images: list[Level],
        plans: list[TilePlan],
        outs: list[np.ndarray],
    ) -> None:
        self.reads = reads
        self.images = images
        self.plans = plans
        self.outs = outs

    def decode_and_paste(
        self,
        decode: codecs.Decoder,
        data: memoryview,
        key: TileKey,
        level: Level,
        uses: list[_Use],
        url: str,
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
        needed = min(level.tile_height, level.height - row * level.tile_height)
        if tile.shape[0] < needed:
            raise DecodeError(
                f"tile {tile_index} decoded to {tile.shape[0]} rows, {needed} needed",
                source=url,
                offset=int(level.tile_offsets[tile_index]),
            )
        self.paste_many([(tile, uses)])
        return tile

    def paste_many(self, items: list[tuple[np.ndarray, list[_Use]]]) -> None:
        for tile, uses in items:
            for use in uses:
                self._paste(tile, use)

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
            self.outs[use.read],
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
    return runtime.run(read_windows(reads, cache=cache))
