"""One band of a collection as flat numpy columns: what the data plane plans reads from.

Planning a read is array arithmetic: record r's levels are `level_start[r]:level_start[r+1]`
of the per-level arrays, and level l's tiles are `tile_start[l]:tile_start[l+1]` of
`tile_offsets`/`tile_byte_counts` (uint64, zero-copy views of the Arrow buffers). Only the
decoder needs `Level` objects, and `level()` builds them on demand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from cogdex.index import arrays as A
from cogdex.index import schema as S
from cogdex.tiff.model import Level, TIFFHeader

if TYPE_CHECKING:
    from cogdex.read.grid import Grid

_LEVEL_INTS = (
    "width",
    "height",
    "tile_width",
    "tile_height",
    "samples_per_pixel",
    "planar",
    "compression",
    "predictor",
    "bits_per_sample",
    "sample_format",
)


@dataclass(frozen=True, eq=False)
class BandSource:
    """A band's records (only those whose file has a header) as column arrays.

    `rows` are the positions of these records in the collection's table. `transform` is
    (n, 6) float64 (GDAL order a, b, c, d, e, f; NaN where the file has none). `nodata` holds
    the file's nodata where `has_nodata`. `epsg` is 0 where the CRS has no EPSG code (then
    `crs[i]` is WKT2 or PROJJSON). `scale`/`offset` turn stored values into physical ones:
    the STAC item's (`raster:bands`) where it gives either, else the file's GDAL metadata,
    else NaN (none: 1 and 0); `stac_nodata` is the item's nodata (NaN where none), which
    scaled reads use where the file declares none. Per-level arrays (`width`, `tile_width`,
    `planar`, ..., `dtype`) are indexed by flat level number; level 0 of record i is
    `level_start[i]`. `headers` holds every record's full header in Arrow, rebuilt on demand;
    it is None in a `take`n source, which carries its few headers rebuilt (an Arrow struct
    of this schema pickles to ~15 KB for any number of rows, a rebuilt header to ~1 KB).
    """

    band: str
    asset: str
    band_index: int
    rows: np.ndarray
    ids: list[str]
    hrefs: list[str]
    datetime: np.ndarray
    epsg: np.ndarray
    crs: list[str]
    transform: np.ndarray
    nodata: np.ndarray
    has_nodata: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    stac_nodata: np.ndarray
    level_start: np.ndarray
    levels: Mapping[str, np.ndarray]
    dtype: list[str]
    tile_start: np.ndarray
    tile_offsets: np.ndarray
    tile_byte_counts: np.ndarray
    headers: pa.StructArray | None = field(repr=False)
    store_options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # credentials
    _decoded: dict[int, TIFFHeader] = field(default_factory=dict, repr=False)
    _grids: dict[tuple[int, int], Grid] = field(default_factory=dict, repr=False)
    """(record, level) -> its grid, made by `read.plan.level_grid` on first use."""

    def __len__(self) -> int:
        return len(self.ids)

    def __getattr__(self, name: str) -> np.ndarray:
        # Through __dict__: unpickling probes attributes before `levels` is set, and
        # `self.levels` would recurse back here.
        try:
            return self.__dict__["levels"][name]
        except KeyError:
            raise AttributeError(name) from None

    def header(self, i: int) -> TIFFHeader:
        """The full header of record i (rebuilt from Arrow once, then cached)."""
        header = self._decoded.get(i)
        if header is None:
            assert self.headers is not None  # a taken source has every header rebuilt
            header = S.headers_from_arrow(self.headers.slice(int(i), 1))[0]
            assert header is not None  # rows with null headers are not in a BandSource
            self._decoded[i] = header
        return header

    def decode_headers(self, rows: Sequence[int] | np.ndarray) -> None:
        """Rebuild ahead of `header` the headers of the records at these collection rows
        (rows without this band are skipped), one Arrow slice per run of consecutive
        records: per call overhead dominates a single row's rebuild."""
        rows = np.asarray(rows, np.int64)
        at = np.searchsorted(self.rows, rows)  # `rows` of a BandSource ascend
        found = at < len(self.rows)
        at = at[found][self.rows[at[found]] == rows[found]]
        todo = A.distinct(at)
        todo = todo[[int(i) not in self._decoded for i in todo]]
        if not len(todo):
            return
        assert self.headers is not None  # a taken source has every header rebuilt
        for run in np.split(todo, np.flatnonzero(np.diff(todo) != 1) + 1):
            lo = int(run[0])
            for k, header in enumerate(S.headers_from_arrow(self.headers.slice(lo, len(run)))):
                assert header is not None  # rows with null headers are not in a BandSource
                self._decoded[lo + k] = header

    def level(self, i: int, k: int) -> Level:
        """Level k (0 = full resolution) of record i, as the decoder wants it."""
        return self.header(i).levels[k]

    def take(
        self, positions: Sequence[int] | np.ndarray, store_options: Mapping[str, Any] | None = None
    ) -> BandSource:
        """Records `positions` (ascending positions in this source) alone, with their own
        buffers and headers rebuilt, and `store_options` in place of this source's if given:
        what a task that reads a few records carries to another process, instead of every
        record's header. Collection rows (`rows`) are kept, so slots that name them read
        the same."""
        at = np.asarray(positions, np.int64)
        self.decode_headers(self.rows[at])
        lv = _ranges(self.level_start[at], self.level_start[at + 1])
        tiles = _ranges(self.tile_start[lv], self.tile_start[lv + 1])
        return BandSource(
            band=self.band,
            asset=self.asset,
            band_index=self.band_index,
            rows=self.rows[at],
            ids=[self.ids[i] for i in at],
            hrefs=[self.hrefs[i] for i in at],
            datetime=self.datetime[at],
            epsg=self.epsg[at],
            crs=[self.crs[i] for i in at],
            transform=self.transform[at],
            nodata=self.nodata[at],
            has_nodata=self.has_nodata[at],
            scale=self.scale[at],
            offset=self.offset[at],
            stac_nodata=self.stac_nodata[at],
            level_start=_starts(self.level_start[at + 1] - self.level_start[at]),
            levels={k: v[lv] for k, v in self.levels.items()},
            dtype=[self.dtype[i] for i in lv],
            tile_start=_starts(self.tile_start[lv + 1] - self.tile_start[lv]),
            tile_offsets=self.tile_offsets[tiles],
            tile_byte_counts=self.tile_byte_counts[tiles],
            headers=None,
            store_options=dict(self.store_options if store_options is None else store_options),
            _decoded={k: self.header(int(i)) for k, i in enumerate(at)},
        )


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of `range(start, stop)` for each pair."""
    lengths = stops - starts
    if not len(lengths):
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return (np.arange(int(lengths.sum()), dtype=np.int64) + offsets).astype(np.int64)


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Offsets from 0 of consecutive runs of these lengths (one more than runs)."""
    return np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)


def _flat_list(lists: pa.ListArray) -> tuple[np.ndarray, pa.Array]:
    """(offsets from 0, the values they index) of a possibly sliced list array."""
    offsets = A.to_numpy(lists.offsets).astype(np.int64)
    values = lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return offsets - offsets[0], values


def _nth(lists: pa.ListArray, index: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """(rows whose list has an item `index`, its position in the values, the values)."""
    offsets, values = _flat_list(lists)
    has = A.valid(lists) & (np.diff(offsets) > index)
    return has, offsets[:-1][has] + index, values


def _per_record(lists: pa.ListArray, index: int, field: str | None = None) -> np.ndarray:
    """Item `index` of each row's list (of floats, or of structs: their `field`), NaN where
    the row has none."""
    out = np.full(len(lists), np.nan)
    if lists.null_count == len(lists):
        return out
    has, at, values = _nth(lists, index)
    column = values if field is None else values.field(field)
    out[has] = A.to_numpy(column, fill=np.nan).astype(np.float64)[at]
    return out


def _samples(headers: pa.StructArray) -> np.ndarray:
    """Samples per pixel of each record's file (its full-resolution level; 0 where none)."""
    out = np.zeros(len(headers), np.int64)
    has, at, values = _nth(headers.field("levels"), 0)
    out[has] = A.to_numpy(values.field("samples_per_pixel")).astype(np.int64)[at]
    return out


def _scale_offset(
    raster: pa.ListArray, headers: pa.StructArray, index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale, offset, STAC nodata) per record: STAC's where given, else the file's."""
    scale = _per_record(raster, index, "scale")
    offset = _per_record(raster, index, "offset")
    stac = np.isfinite(scale) | np.isfinite(offset)
    from_file = ~stac
    if from_file.any():
        scale[from_file] = _per_record(headers.field("scales"), index)[from_file]
        offset[from_file] = _per_record(headers.field("offsets"), index)[from_file]
    return scale, offset, _per_record(raster, index, "nodata")


def _as_stored(nodata: np.ndarray, dtypes: list[str]) -> np.ndarray:
    """STAC nodata (a JSON double) as bands of each record's float type hold it: float32
    -3.4e38 is -3.3999999521443642e38, so `raw == nodata` finds its pixels (GDAL compares
    in the band's type; the file's own nodata is read so already)."""
    out = nodata.copy()
    for kind in ("float32", "float16"):
        mine = np.array([d == kind for d in dtypes], dtype=bool)
        if mine.any():
            with np.errstate(over="ignore"):
                out[mine] = nodata[mine].astype(kind).astype(np.float64)
    return out


def band_source(
    table: pa.Table,
    band: str,
    ref: S.BandRef,
    store_options: Mapping[str, Any] | None = None,
) -> BandSource:
    """The columns of `band` (stored in asset `ref.asset`) over the rows of `table`."""
    assets = A.contiguous(table.column("assets"))
    asset = assets.field(ref.asset)
    headers = asset.field("header")
    valid = A.valid(headers) & A.valid(asset) & A.valid(assets)
    if ref.band_index > 0:  # a file with fewer samples has no such band, as a missing asset
        valid &= _samples(headers) > ref.band_index
    rows = np.flatnonzero(valid)
    if len(rows) != len(valid):
        indices = A.from_numpy(rows)
        asset, headers = asset.take(indices), headers.take(indices)
        picked = table.take(indices)
    else:
        picked = table
    level_start, flat = _flat_list(headers.field("levels"))
    tile_start, offsets = _flat_list(flat.field("tile_offsets"))
    _, counts = _flat_list(flat.field("tile_byte_counts"))
    n = len(rows)
    transform = np.full((n, 6), np.nan)
    tf = headers.field("transform")
    tf_valid = A.valid(tf)
    if tf_valid.any():  # the child values, not `flatten()`: that loads pyarrow.compute
        values = A.to_numpy(tf.values.slice(tf.offset * 6, len(tf) * 6), fill=np.nan)
        transform[tf_valid] = values.reshape(-1, 6)[tf_valid]
    nodata_col = headers.field("nodata")
    crs = picked.column("crs").to_pylist()
    epsg = read_epsg(A.to_numpy(picked.column("epsg"), fill=0).astype(np.int32), crs)
    scale, offset, stac_nodata = _scale_offset(asset.field("raster"), headers, ref.band_index)
    dtype = flat.field("dtype").to_pylist()
    return BandSource(
        band=band,
        asset=ref.asset,
        band_index=ref.band_index,
        rows=rows,
        ids=picked.column("id").to_pylist(),
        hrefs=asset.field("href").to_pylist(),
        datetime=A.to_numpy(A.contiguous(picked.column("datetime"))),
        epsg=epsg,
        crs=crs,
        transform=transform,
        nodata=A.to_numpy(nodata_col, fill=np.nan).astype(np.float64),
        has_nodata=A.valid(nodata_col),
        scale=scale,
        offset=offset,
        stac_nodata=_as_stored(stac_nodata, [dtype[k] for k in level_start[:-1].tolist()]),
        level_start=level_start,
        levels={k: A.to_numpy(flat.field(k)).astype(np.int64) for k in _LEVEL_INTS},
        dtype=dtype,
        tile_start=tile_start,
        tile_offsets=A.to_numpy(offsets),
        tile_byte_counts=A.to_numpy(counts),
        headers=headers,
        store_options=dict(store_options or {}),
    )


def read_epsg(epsg: np.ndarray, crs: list[str | None]) -> np.ndarray:
    """The codes reads use: 0 (read the `crs` definition) where a record's CRS is a file's
    own definition that the index's `epsg` only identifies (PROJ's match at confidence 70:
    equivalent for grouping, not always identical, e.g. a TOWGS84 datum shift)."""
    own = [i for i, c in enumerate(crs) if c and not c.upper().startswith("EPSG:")]
    if own:
        epsg = epsg.copy()
        epsg[own] = 0
    return epsg


__all__ = [
    "BandSource",
    "band_source",
]
