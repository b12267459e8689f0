"""Point sampling: points -> the pixel each falls in, per record and file, grouped by tile.

Points are projected once per CRS (the CRSs at once, on the decode pool), turned into
pixel rows/cols with each record's inverse affine (vectorised), and sorted by the tile they
fall in, so each tile is fetched and decoded once and all its points are gathered with one
indexing step on the decode pool, straight into the column that becomes the result's
`value` (`PointPlan.values`).
Files are fetched a few at a time and decoded tiles go to the bounded shared tile cache (so
tiles a previous read decoded are reused), so a million points over whole scenes needs
memory only for the tiles in flight plus the cache.

On a cluster (`client=`) the same plan is made on the caller's process and cut into
`PointTask`s by tile: each tile goes to one task, which carries the files' parsed headers
and the points' positions in their tiles (plain data, no store options); a worker runs
`sample_task` and returns the gathered values, which `PointPlan.fill` puts where the local
read would have, so the result is the local one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from cogdex.index.band import BandSource
from cogdex.io import fetch, runtime
from cogdex.read import grid as G
from cogdex.read.mosaic import fill_value
from cogdex.read.reader import Source, TileRead, for_each_tile
from cogdex.tiff.model import Level, TIFFHeader

if TYPE_CHECKING:
    from numpy.typing import DTypeLike


Given = tuple[np.ndarray, np.ndarray, int | str]
"""Points as the caller gave them: x, y and their CRS."""


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
    """(bands, points), native dtype; points in sparse tiles keep `empty`. A view of
    `PointPlan.values`."""
    empty: float = 0.0
    """What points in no data (sparse tiles, nodata, the mask) hold: the file's nodata
    (else 0) in the call's dtype, GDAL's value for sparse tiles."""
    hidden: np.ndarray | None = None
    """Per point, whether the file's internal mask hides it (GDAL's per-dataset mask: True
    until its mask tile says otherwise, so a sparse mask tile hides, as GDAL reads it);
    None for a file without a mask."""


@dataclass
class _TileJob:
    """The points of one file that fall in one tile, and which tile samples to gather."""

    samples: Samples
    level: Level
    members: np.ndarray
    """Positions in `samples` of the points in this tile."""
    inner: np.ndarray
    """Each member's pixel in the tile, as `row * tile_width + col`."""
    gather: list[tuple[int, int]]
    """(row of samples.values, sample of the decoded tile)."""
    mask: bool = False
    """A tile of the file's internal mask: it sets `samples.hidden`, not values."""


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


@dataclass(frozen=True)
class _Located:
    """The points inside one grid (a CRS, transform and tiling: the bands of a scene share
    it), and their order by tile."""

    inside: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    order: np.ndarray
    """Positions in `inside` sorted by tile (stable)."""
    inner: np.ndarray
    """In `order`, each point's pixel in its tile (`row * tile_width + col`), so a tile's
    gather reads a slice, computed once for all the bands of the grid."""
    tiles: list[int]
    """The tiles met, ascending; tile k's points are `order[bounds[k]:bounds[k + 1]]`."""
    bounds: list[int]


def _locate(x: np.ndarray, y: np.ndarray, transform: np.ndarray, level: Level) -> _Located:
    """The pixel each projected point falls in, for the points inside `level`, by tile."""
    a, b, c, d, e, f = (float(v) for v in transform)
    col, prow = G.containing_pixels((a, b, c, d, e, f), x, y)
    inside = np.flatnonzero((prow >= 0) & (prow < level.height) & (col >= 0) & (col < level.width))
    # Pixel rows and columns fit 32 bits (the output's `row`/`col` type): half the memory.
    rows, cols = prow[inside].astype(np.int32), col[inside].astype(np.int32)
    th, tw = level.tile_height, level.tile_width
    tile_row, in_row = np.divmod(rows, th)
    tile_col, in_col = np.divmod(cols, tw)
    tile = tile_row * level.tiles_across + tile_col
    # Tile numbers fit 16 bits in all but huge images: numpy sorts those by radix.
    narrow = np.uint16 if level.tiles_across * level.tiles_down <= 1 << 16 else np.int64
    order = np.argsort(tile.astype(narrow), kind="stable")
    ordered = tile[order]
    inner = (in_row * tw + in_col)[order]
    starts = np.flatnonzero(np.diff(ordered, prepend=-1))  # where a new tile begins
    return _Located(
        inside, rows, cols, order, inner, ordered[starts].tolist(),
        np.append(starts, len(order)).tolist(),
    )  # fmt: skip


def _locate_crs(
    lon: np.ndarray,
    lat: np.ndarray,
    given: Given | None,
    crs_grids: tuple[int | str, dict[tuple[Any, ...], tuple[np.ndarray, Level]]],
) -> dict[tuple[Any, ...], _Located]:
    """The points located in each grid of one CRS, the points projected to it once; in the
    CRS they were given in, the given coordinates themselves (a round trip through lon/lat
    would move points on pixel edges into the pixel before by float noise)."""
    crs, grids = crs_grids
    if given is not None and G.same_crs(given[2], crs):
        x, y = given[0], given[1]
    else:
        x, y = G.transformer(4326, crs).transform(lon, lat)
        x, y = np.asarray(x), np.asarray(y)
    return {grid: _locate(x, y, transform, level) for grid, (transform, level) in grids.items()}


def _tile_jobs(
    samples: Samples, level: Level, band_index: list[int], at: _Located, *, mask: bool = False
) -> list[tuple[int, _TileJob]]:
    """The jobs of one file: one per tile met (and plane, for band-separate files); with
    `mask`, of its internal mask `level`."""
    per_plane = level.tiles_across * level.tiles_down
    if level.planar == 2:
        planes = {b: [(k, 0) for k, bb in enumerate(band_index) if bb == b] for b in band_index}
    else:
        planes = {0: [(k, b) for k, b in enumerate(band_index)]}
    jobs = []
    for plane, pairs in planes.items():
        for t, s0, s1 in zip(at.tiles, at.bounds[:-1], at.bounds[1:], strict=True):
            job = _TileJob(samples, level, at.order[s0:s1], at.inner[s0:s1], pairs, mask)
            jobs.append((t + plane * per_plane, job))
    return jobs


@dataclass
class PointPlan:
    """What a sampling call reads, planned on the caller's process without I/O: the points
    that fell in each file (`samples`, whose values are still the fill) and, per tile read,
    the job that gathers its points."""

    samples: list[Samples]
    tiles: list[TileRead]
    jobs: list[_TileJob]
    values: np.ndarray
    """Every sample's `values`, one after the other (sample by sample, band by band): the
    result table's `value` column, written in place by the reads."""

    def consume(self, n: int, tile: np.ndarray) -> None:
        """Gather the points of job `n` from its decoded tile."""
        job = self.jobs[n]
        pixels = tile.reshape(-1, tile.shape[-1])
        if job.mask:
            _hide(job, pixels[:, 0].take(job.inner))
            return
        out = job.samples.values
        for k, sample in job.gather:
            out[k, job.members] = pixels[:, sample].take(job.inner)

    def _masked(self) -> None:
        """Points an internal mask hides hold the file's empty value, as points in its
        nodata do (get_numpy fills and invalidates the same pixels)."""
        for s in self.samples:
            if s.hidden is not None and s.hidden.any():
                s.values[:, s.hidden] = s.empty

    async def read[T](self, max_files: int, beside: Callable[[], T]) -> T:
        """Fetch and decode every tile of the plan here, each once, gathering as they come,
        and return `beside()`, run meanwhile on the decode pool: the caller's work that
        needs no values (the rest of the result table) overlaps the fetches. The first of
        the two to fail cancels the other (the reads stop fetching; `beside`, once running
        on its thread, finishes there unheeded) and its error is raised."""
        pending = asyncio.get_running_loop().run_in_executor(runtime.decode_pool(), beside)

        result: list[T] = []

        async def aside() -> None:
            result.append(await pending)

        reads = for_each_tile(self.tiles, self.consume, max_files=max_files)
        await fetch.gather_or_cancel([reads, aside()])
        self._masked()
        return result[0]

    def tasks(self, tiles_per_task: int, *, max_files: int = 16) -> list[PointTask]:
        """The plan's tile reads as tasks of about `tiles_per_task` tiles each, every tile
        in exactly one task (jobs that read the same tile go together) and a file's tiles in
        as few tasks as the size allows, so a worker fetches them in coalesced requests.
        Sparse tiles are left out: their points keep the fill. Tasks hold no store options."""
        units: dict[tuple[str, int], list[int]] = {}
        for n, t in enumerate(self.tiles):
            level = t.image()
            if level.tile_offsets[t.tile] and level.tile_byte_counts[t.tile]:
                units.setdefault((t.source.url, t.tile), []).append(n)
        groups = list(units.values())
        size = max(1, tiles_per_task)
        return [
            self._task([n for g in groups[i : i + size] for n in g], max_files)
            for i in range(0, len(groups), size)
        ]

    def _task(self, jobs: list[int], max_files: int) -> PointTask:
        files: dict[str, int] = {}
        headers: list[TIFFHeader] = []
        file: list[int] = []
        mask: list[bool] = []
        offsets = [0]
        gathers: list[tuple[int, ...]] = []
        rows_parts: list[np.ndarray] = []
        cols_parts: list[np.ndarray] = []
        for n in jobs:
            read, job = self.tiles[n], self.jobs[n]
            if read.source.url not in files:
                files[read.source.url] = len(files)
                headers.append(read.source.header)
            file.append(files[read.source.url])
            mask.append(read.mask)
            s, members = job.samples, job.members
            rows_parts.append(s.rows[members] % job.level.tile_height)
            cols_parts.append(s.cols[members] % job.level.tile_width)
            offsets.append(offsets[-1] + members.size)
            gathers.append(tuple(sample for _, sample in job.gather))
        return PointTask(
            urls=tuple(files),
            headers=tuple(headers),
            jobs=np.asarray(jobs, np.int64),
            file=np.asarray(file, np.int32),
            tile=np.asarray([self.tiles[n].tile for n in jobs], np.int64),
            mask=np.asarray(mask, bool),
            offsets=np.asarray(offsets, np.int64),
            rows=_narrow(rows_parts),
            cols=_narrow(cols_parts),
            gathers=tuple(gathers),
            max_files=max_files,
        )

    def fill(self, results: Sequence[TaskValues]) -> None:
        """Put what `sample_task` gathered on the workers into `samples`, as `consume` does."""
        for result in results:
            for n, values in zip(result.jobs.tolist(), result.values, strict=True):
                job = self.jobs[n]
                if job.mask:
                    _hide(job, values[0])
                    continue
                for (k, _), row in zip(job.gather, values, strict=True):
                    job.samples.values[k, job.members] = row
        self._masked()


def _hide(job: _TileJob, mask: np.ndarray) -> None:
    """Record which of a mask job's points the mask's values (0: no data) hide."""
    hidden = job.samples.hidden
    assert hidden is not None  # a mask job's samples have a mask
    hidden[job.members] = mask == 0


def _narrow(parts: list[np.ndarray]) -> np.ndarray:
    """In-tile rows or columns as one array, 16 bits where tiles allow (they nearly always do)."""
    joined = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return joined.astype(np.uint16) if joined.size == 0 or joined.max() < 1 << 16 else joined


@dataclass(frozen=True)
class PointTask:
    """Some tile reads of a `PointPlan`, as plain data for another process: the files' URLs
    and parsed headers, and per job its tile, its points' positions in the tile and the
    samples to gather. No store options: the executor sends them (without secrets)."""

    urls: tuple[str, ...]
    headers: tuple[TIFFHeader, ...]
    jobs: np.ndarray
    """Positions of the jobs in the plan (what `PointPlan.fill` writes back)."""
    file: np.ndarray
    """Per job, its position in `urls`."""
    tile: np.ndarray
    mask: np.ndarray
    """Per job, whether its tile is of the file's internal mask."""
    offsets: np.ndarray
    """Job j's points are `rows[offsets[j]:offsets[j + 1]]` (and `cols`)."""
    rows: np.ndarray
    cols: np.ndarray
    gathers: tuple[tuple[int, ...], ...]
    """Per job, the samples of its decoded tile to gather, one output row each."""
    max_files: int
    """The call's `max_files`, a bound per task: a worker holds up to its threads times it."""


@dataclass(frozen=True)
class TaskValues:
    """What `sample_task` gathered: per job of the task, (samples, points) in the tile's
    dtype."""

    jobs: np.ndarray
    values: list[np.ndarray]


def sample_task(task: PointTask, options: Mapping[str, Any] | None) -> TaskValues:
    """Run one task (on a worker): fetch and decode its tiles, gather its points' values.
    `options` are the collection's store options; the process's stores and tile cache serve
    the reads, as in any read."""
    sources = [
        Source(url, header, dict(options or {}))
        for url, header in zip(task.urls, task.headers, strict=True)
    ]
    tiles = [
        TileRead(sources[f], t, mask=m)
        for f, t, m in zip(task.file.tolist(), task.tile.tolist(), task.mask.tolist(), strict=True)
    ]
    values: list[np.ndarray] = [np.empty(0)] * len(tiles)  # every one is set: no sparse tiles
    bounds = task.offsets.tolist()

    def consume(n: int, tile: np.ndarray) -> None:
        tr, tc = task.rows[bounds[n] : bounds[n + 1]], task.cols[bounds[n] : bounds[n + 1]]
        pixels = tile[tr, tc]
        values[n] = np.stack([pixels[:, sample] for sample in task.gathers[n]])

    fetch.run_read(for_each_tile(tiles, consume, max_files=task.max_files))
    return TaskValues(task.jobs, values)


class PointExecutor(Protocol):
    """Where a sampling call's tiles are read when it is given a `client=`: a plugin's
    answer to the `cogdex_point_executor` hook (cogdex-dask runs them on a Dask cluster)."""

    def local_points(self, points: Any) -> Any:
        """`points` as a local call takes them: a collection of the engine's (a Dask
        DataFrame) computed into the caller's process; anything else as it is."""
        ...

    def run_tasks(
        self, plan: PointPlan, store_options: Mapping[str, Any] | None, max_files: int
    ) -> list[TaskValues]:
        """`sample_task` of each of `plan.tasks(size, max_files=max_files)`, for a size
        of the executor's choice; results in any order."""
        ...


def _grid(
    grids: dict[int | str, dict[tuple[Any, ...], tuple[np.ndarray, Level]]],
    crs: int | str,
    transform: np.ndarray,
    level: Level,
) -> tuple[Any, ...]:
    """The key of the grid (CRS, transform, size and tiling) of `level`, registered in
    `grids` to locate the points in once."""
    key = (crs, transform.tobytes(), level.width, level.height, level.tile_width,
           level.tile_height)  # fmt: skip
    grids.setdefault(crs, {}).setdefault(key, (transform, level))
    return key


def plan_points(
    sources: Sequence[BandSource],
    lon: np.ndarray,
    lat: np.ndarray,
    rows: Sequence[int],
    *,
    fill: float,
    dtype: np.dtype,
    given: Given | None = None,
) -> PointPlan:
    """Which tile of which file every lon/lat point needs, for every band of `sources` in
    the collection `rows` (headers from the index: no I/O). `given`: the points as the
    caller gave them, (x, y, crs), located in that CRS's grids without reprojection."""
    positions = _positions(sources)
    for src in sources:
        src.decode_headers(rows)
    files = [(row, href, entries) for row in rows
             for href, entries in _files(sources, positions, row).items()]  # fmt: skip
    grids: dict[int | str, dict[tuple[Any, ...], tuple[np.ndarray, Level]]] = {}
    keys: list[tuple[Any, ...]] = []
    mask_keys: list[tuple[Any, ...] | None] = []
    for _, _, entries in files:
        src, i = sources[entries[0][0]], entries[0][1]
        crs = int(src.epsg[i]) or src.crs[i]
        level = src.level(i, 0)
        # the bands of a scene share their grid, and a mask tiled as its image: located once
        keys.append(_grid(grids, crs, src.transform[i], level))
        mask_keys.append(None if level.mask is None
                         else _grid(grids, crs, src.transform[i], level.mask))  # fmt: skip
    located: dict[tuple[Any, ...], _Located] = {}
    # One CRS per thread of the decode pool: PROJ and numpy release the GIL, so the
    # projections of a scene set in two UTM zones overlap.
    for done in runtime.decode_pool().map(partial(_locate_crs, lon, lat, given), grids.items()):
        located.update(done)
    found: list[Samples] = []
    tiles: list[TileRead] = []
    jobs: list[_TileJob] = []
    for (row, href, entries), grid, mask_grid in zip(files, keys, mask_keys, strict=True):
        src, i = sources[entries[0][0]], entries[0][1]
        level = src.level(i, 0)
        at = located[grid]
        if at.inside.size == 0:
            continue
        samples = Samples(
            record=int(row),
            points=at.inside,
            rows=at.rows,
            cols=at.cols,
            bands=tuple(c for c, _ in entries),
            values=np.empty((len(entries), 0), dtype),  # a view of the column, below
            empty=fill_value(src.header(i).nodata, np.dtype(dtype)),
        )
        found.append(samples)
        source = Source(href, src.header(i), src.store_options)
        for tile_index, job in _tile_jobs(
            samples, level, [sources[c].band_index for c, _ in entries], at
        ):
            tiles.append(TileRead(source, tile_index))
            jobs.append(job)
        if mask_grid is not None and level.mask is not None:
            samples.hidden = np.ones(at.inside.size, bool)
            for tile_index, job in _tile_jobs(samples, level.mask, [0], located[mask_grid],
                                              mask=True):  # fmt: skip
                tiles.append(TileRead(source, tile_index, mask=True))
                jobs.append(job)
    column = empty_column(sum(s.points.size * len(s.bands) for s in found), dtype)
    np.copyto(column, fill, casting="unsafe")  # as np.full
    at_value = 0
    for s in found:
        size = s.points.size * len(s.bands)
        s.values = column[at_value : at_value + size].reshape(len(s.bands), s.points.size)
        if s.empty != fill:  # a record whose nodata is not the first record's
            s.values[...] = s.empty
        at_value += size
    return PointPlan(found, tiles, jobs, column)


def empty_column(n: int, dtype: DTypeLike) -> np.ndarray:
    """An uninitialised array of `n` values for a column of a sampling result, in memory
    from Arrow's system pool (malloc) rather than numpy's. numpy asks the kernel for huge
    pages for every large array, and where free ones are short (a machine with other jobs)
    each fault stalls in memory compaction: the 0.7 GB of a 20-million-row result took
    0.4-1.0 s of CPU to write from numpy, 0.32-0.33 s from malloc (docs/benchmarks.md)."""
    size = n * np.dtype(dtype).itemsize
    return np.frombuffer(pa.allocate_buffer(size, memory_pool=pa.system_memory_pool()), dtype)


__all__ = [
    "PointExecutor",
    "PointPlan",
    "PointTask",
    "Samples",
    "TaskValues",
    "empty_column",
    "plan_points",
    "sample_task",
]
