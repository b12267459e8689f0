"""Point sampling: points -> the pixel each falls in, per record and file, grouped by tile.

Points are projected once per CRS, turned into pixel rows/cols with each record's inverse
affine (vectorised), and sorted by the tile they fall in, so each tile is fetched and
decoded once and all its points are gathered with one indexing step on the decode pool.
Files are fetched a few at a time and decoded tiles go to the bounded shared tile cache (so
tiles a previous read decoded are reused), so a million points over whole scenes needs
memory only for the tiles in flight plus the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cogdex.index.band import BandSource
from cogdex.read import grid as G
from cogdex.read.reader import Source, TileRead, for_each_tile
from cogdex.tiff.model import Level


@dataclass
class Samples:
    """The points that fell inside one file of one record, and their values per band."""

    record: int
    """Collection row."""
    points: np.ndarray
    """Positions in the caller's point arrays."""
    rows: np.ndarray
    cols: np.ndarray
    bands: tuple[int, ...]
    """Positions in the caller's band list, one per row of `values`."""
    values: np.ndarray
    """(bands, points), native dtype; points in sparse tiles keep the fill value."""


@dataclass
class _TileJob:
    """The points of one file that fall in one tile, and which tile samples to gather."""

    samples: Samples
    level: Level
    members: np.ndarray
    """Positions in `samples` of the points in this tile."""
    gather: list[tuple[int, int]]
    """(row of samples.values, sample of the decoded tile)."""


def _inverse(t: np.ndarray) -> tuple[float, ...]:
    a, b, c, d, e, f = (float(v) for v in t)
    det = a * e - b * d
    return e / det, -b / det, (b * f - e * c) / det, -d / det, a / det, (d * c - a * f) / det


def _positions(sources: Sequence[BandSource]) -> list[np.ndarray]:
    """Per band, collection row -> index in its BandSource (-1: no file)."""
    out = []
    for src in sources:
        pos = np.full(int(src.rows.max()) + 1 if len(src.rows) else 0, -1, np.int64)
        pos[src.rows] = np.arange(len(src.rows))
        out.append(pos)
    return out


def _files(
    sources: Sequence[BandSource], positions: list[np.ndarray], row: int
) -> dict[str, list[tuple[int, int]]]:
    """The files of record `row`: href -> [(band position, index in its BandSource)]."""
    files: dict[str, list[tuple[int, int]]] = {}
    for c, (src, pos) in enumerate(zip(sources, positions, strict=True)):
        i = int(pos[row]) if row < len(pos) else -1
        if i >= 0 and np.isfinite(src.transform[i]).all():
            files.setdefault(src.hrefs[i], []).append((c, i))
    return files


def _tile_jobs(samples: Samples, level: Level, band_index: list[int]) -> list[tuple[int, _TileJob]]:
    """Group the points of one file by tile (and plane, for band-separate files)."""
    tile = (
        samples.rows // level.tile_height
    ) * level.tiles_across + samples.cols // level.tile_width
    per_plane = level.tiles_across * level.tiles_down
    if level.planar == 2:
        planes = {b: [(k, 0) for k, bb in enumerate(band_index) if bb == b] for b in band_index}
    else:
        planes = {0: [(k, b) for k, b in enumerate(band_index)]}
    # Tile numbers fit 16 bits in all but huge images: numpy sorts those by radix.
    narrow = np.uint16 if per_plane <= 1 << 16 else np.int64
    order = np.argsort(tile.astype(narrow), kind="stable")
    ordered = tile[order]
    starts = np.flatnonzero(np.diff(ordered, prepend=-1))  # where a new tile begins
    uniq = ordered[starts]
    bounds = np.append(starts, len(order)).tolist()
    jobs = []
    for plane, pairs in planes.items():
        for t, s0, s1 in zip(uniq.tolist(), bounds[:-1], bounds[1:], strict=True):
            jobs.append((int(t) + plane * per_plane, _TileJob(samples, level, order[s0:s1], pairs)))
    return jobs


async def sample(
    sources: Sequence[BandSource],
    lon: np.ndarray,
    lat: np.ndarray,
    rows: Sequence[int],
    *,
    fill: float,
    dtype: np.dtype,
    max_files: int = 16,
) -> list[Samples]:
    """Sample every band of `sources` at every lon/lat point, in the collection `rows`."""
    positions = _positions(sources)
    for src in sources:
        src.decode_headers(rows)
    projected: dict[int | str, tuple[np.ndarray, np.ndarray]] = {}
    found: list[Samples] = []
    tiles: list[TileRead] = []
    jobs: list[_TileJob] = []
    for row in rows:
        for href, entries in _files(sources, positions, row).items():
            src, i = sources[entries[0][0]], entries[0][1]
            crs = int(src.epsg[i]) or src.crs[i]
            if crs not in projected:
                x, y = G.transformer(4326, crs).transform(lon, lat)
                projected[crs] = (np.asarray(x), np.asarray(y))
            x, y = projected[crs]
            ia, ib, ic, id_, ie, if_ = _inverse(src.transform[i])
            col = np.floor(ia * x + ib * y + ic)
            prow = np.floor(id_ * x + ie * y + if_)
            level = src.level(i, 0)
            inside = np.flatnonzero(
                (prow >= 0) & (prow < level.height) & (col >= 0) & (col < level.width)
            )
            if inside.size == 0:
                continue
            samples = Samples(
                record=int(row),
                points=inside,
                rows=prow[inside].astype(np.int64),
                cols=col[inside].astype(np.int64),
                bands=tuple(c for c, _ in entries),
                values=np.full((len(entries), inside.size), fill, dtype=dtype),
            )
            found.append(samples)
            source = Source(href, src.header(i), src.store_options)
            for tile_index, job in _tile_jobs(
                samples, level, [sources[c].band_index for c, _ in entries]
            ):
                tiles.append(TileRead(source, tile_index))
                jobs.append(job)

    def consume(n: int, tile: np.ndarray) -> None:
        job = jobs[n]
        s = job.samples
        members = job.members
        tr = s.rows[members] % job.level.tile_height
        tc = s.cols[members] % job.level.tile_width
        for k, sample in job.gather:
            s.values[k, members] = tile[tr, tc, sample]

    await for_each_tile(tiles, consume, max_files=max_files)
    return found


__all__ = [
    "Samples",
    "sample",
]
