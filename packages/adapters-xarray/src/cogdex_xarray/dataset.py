"""`get_xarray`: the cube of `plan_slots` as an xarray Dataset, eager or Dask-backed.

One variable per band, dims (time, y, x), or (geometry, time, y, x) for several geometries
(each on its own grid, all of one shape: x/y are then per geometry). Lazily, the cube is
one Dask array whose chunks hold every band, so variables computed together read each
chunk's tiles once.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import xarray as xr

from cogdex import Collection
from cogdex.sdk import (
    DEFAULT_MAX_MEMORY,
    MERGES,
    BandSource,
    MemoryLimitError,
    Merge,
    check_merges,
    default_fill,
    output_dtype,
    plan_slots,
    record_values,
)
from cogdex.sdk import grid as G
from cogdex_xarray import cf, secret_options
from cogdex_xarray.cube import CubeReader, chunk_reads, cube_chunks, read_chunk
from cogdex_xarray.layout import layout

CHUNK_DIMS = ("geometry", "time", "y", "x")


def _dtype(
    sources: Sequence[BandSource], rows: Sequence[int] | None, dtype: Any, resampling: str
) -> np.dtype:
    native = output_dtype(sources, rows)
    if dtype is not None:
        return np.dtype(dtype)
    if resampling == "bilinear" and native.kind in "iu":
        warnings.warn(
            f"bilinear resampling of {native} bands returns float32; pass dtype={native.name!r} "
            "to round back to the native type",
            stacklevel=4,
        )
        return np.dtype(np.float32)
    return native


def _band_attrs(
    src: BandSource, fill: float, fill_value: float | None, rows: np.ndarray
) -> dict[str, Any]:
    """CF attributes of a band of native values: `_FillValue`, `nodata` (the files', else
    the STAC items'), and `scale_factor`/`add_offset` where every record shares them (else
    only `scale=True` can apply them, record by record)."""
    attrs: dict[str, Any] = {"grid_mapping": "spatial_ref"}
    known = np.flatnonzero(src.has_nodata)
    if known.size:
        attrs["nodata"] = src.nodata[known[0]].item()
    if fill_value is not None or known.size:
        attrs["_FillValue"] = fill
    scale, offset, nodata = record_values(src, rows)
    if "nodata" not in attrs and np.isfinite(nodata).any():
        attrs["nodata"] = float(nodata[np.isfinite(nodata)][0])
    identity = (scale == 1).all() and (offset == 0).all()
    if not identity and (scale == scale[0]).all() and (offset == offset[0]).all():
        attrs["scale_factor"], attrs["add_offset"] = float(scale[0]), float(offset[0])
    return attrs


def get_xarray(
    collection: Collection,
    geometries: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: int | str | None = None,
    resolution: float | tuple[float, float] | None = None,
    crs: int | str | None = None,
    chunks: Mapping[str, int] | None = None,
    resampling: G.Resampling = "nearest",
    fill_value: float | None = None,
    merge: Merge | None = None,
    dtype: Any = None,
    use_overviews: bool = True,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    scale: bool = False,
) -> xr.Dataset:
    """`bands` over `geometries` as an xarray Dataset (see docs/xarray.md).

    Grids follow `get_numpy`: the first covering record's pixel lattice, or `crs` and
    `resolution`. A time step is a record, or with `merge` (a `get_numpy` merge rule) a
    UTC day of records merged by it. `chunks=None` reads now; a dict (dims `time`, `y`,
    `x`, `geometry`; -1 for one chunk) makes a lazy Dask-backed Dataset read on compute.
    Geometries that meet no record give an empty Dataset and an `EmptyReadWarning`, as
    `get_numpy` gives an empty array. An eager read larger than `max_memory` bytes (default
    4 GiB) raises `MemoryLimitError` before any request; `max_memory=None` lifts the guard.
    Values are native, described by CF attributes; `scale=True` gives float32 physical
    values per record, NaN for nodata (as `get_numpy`'s `scale=True`).
    """
    if merge is not None and merge not in MERGES:
        raise ValueError(f"merge must be None or one of {', '.join(MERGES)}, not {merge!r}")
    if scale and dtype is not None:
        raise ValueError("scale=True returns float32 with NaN for nodata: drop dtype")
    unknown = set(chunks or {}) - set(CHUNK_DIMS)
    if unknown:
        raise ValueError(f"chunks has unknown dims {sorted(unknown)}; dims: {CHUNK_DIMS}")
    bad = {
        k: v for k, v in (chunks or {}).items() if not (isinstance(v, int) and (v > 0 or v == -1))
    }
    if bad:
        raise ValueError(f"chunk sizes must be positive integers or -1, got {bad}")
    table, sources = collection.read_inputs(bands)
    slots, owner, areas = plan_slots(
        table, sources, geometries, geometry_crs=geometry_crs, resolution=resolution,
        crs=crs, merge=merge, group_by="date",
    )  # fmt: skip
    if not slots:
        return _empty(sources, _dtype(sources, None, dtype, resampling), len(areas) > 1)
    if scale:
        _check_scalable(slots, sources, fill_value)
    cube = layout(slots, owner, table, merged=merge is not None)
    rows = sorted({r for s in slots for r in s.rows})
    out_dtype = _dtype(sources, rows, dtype, resampling)
    reader = CubeReader(
        layout=cube, sources=tuple(sources), dtype=out_dtype,
        fill=default_fill(sources, out_dtype, fill_value), resampling=resampling,
        merge=merge or "first", use_overviews=use_overviews,
    )  # fmt: skip
    if chunks is None:
        need = int(np.prod(reader.shape)) * out_dtype.itemsize
        if max_memory is not None and need > max_memory:
            raise MemoryLimitError(
                f"this read needs {need / 2**20:,.0f} MiB {reader.shape}, over max_memory="
                f"{max_memory / 2**20:,.0f} MiB; pass chunks= to read lazily with Dask"
            )
        data: Any = reader[tuple(slice(None) for _ in reader.shape)]
        secrets = None
    else:
        data, secrets = _lazy(reader, cube_chunks(reader, dict(chunks)))
    ds = _dataset(reader, data, len(areas) > 1, fill_value, np.array(rows, np.int64))
    out = _physical(ds, reader) if scale else ds
    if isinstance(secrets, secret_options.Lease):
        # the secrets stay while a lazy array needs them, or until this Dataset is closed
        out.set_close(partial(secret_options.release, secrets))
    return out


def _lazy(reader: CubeReader, chunks: tuple[tuple[int, ...], ...]) -> tuple[Any, str | None]:
    """The cube as a Dask array of one task per chunk, each holding its `ChunkRead`, and
    the lease on their secret store options (None without secrets)."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph
    from dask.typing import Key

    name = f"cogdex-{uuid.uuid4().hex}"
    tasks = chunk_reads(reader, chunks, reader.sources[0].store_options)
    graph: dict[Key, Any] = {(name, *index): (read_chunk, chunk) for index, chunk in tasks.items()}
    array = da.Array(
        HighLevelGraph.from_collections(name, graph, dependencies=()), name, chunks,
        meta=np.empty((0,) * 5, reader.dtype),
    )  # fmt: skip
    return array, next(iter(tasks.values())).secrets


def _empty(sources: Sequence[BandSource], dtype: np.dtype, several: bool) -> xr.Dataset:
    """The Dataset of a read that found no record: every band, no time step, no pixel."""
    dims = ("geometry", "time", "y", "x") if several else ("time", "y", "x")
    data = np.empty((0,) * len(dims), dtype)
    coords = {"time": ("time", np.empty(0, "datetime64[ns]")), "id": ("time", np.empty(0, object))}
    return xr.Dataset({src.band: (dims, data) for src in sources}, coords=coords)


def _check_scalable(slots: Sequence[Any], sources: Sequence[Any], fill_value: Any) -> None:
    """Before any request: merged records must share their values (`check_merges`), and the
    gaps between records must be told from data. A Dataset has no valid mask, so a gap is
    a pixel equal to the fill, which only a nodata or an explicit `fill_value` make safe to
    turn into NaN (a fill of 0 would also erase real zeros)."""
    check_merges([np.asarray(s.rows) for s in slots], sources)
    if fill_value is not None:
        return
    rows = np.array(sorted({r for s in slots for r in s.rows}), np.int64)
    for src in sources:
        if np.isnan(record_values(src, rows)[2]).any():
            raise ValueError(
                f"scale=True: band {src.band!r} has records without nodata, so gaps cannot be "
                f"told from real values; pass fill_value= (a raw value the data never holds)"
            )


def _physical(ds: xr.Dataset, reader: CubeReader) -> xr.Dataset:
    """Every band as float32 `raw * scale + offset` of each step's (first) record, NaN at
    the fill value and the record's nodata; lazy where the data is."""
    cube = reader.layout
    dims = ("geometry", "time") if "geometry" in ds.dims else ("time",)
    drawn = cube.cell >= 0
    first = np.array([s.rows[0] for s in cube.slots], np.int64)[np.where(drawn, cube.cell, 0)]
    out = ds.copy()
    for src in reader.sources:
        scale, offset, nodata = (v.reshape(first.shape) for v in record_values(src, first.ravel()))
        if dims == ("time",):
            scale, offset, nodata = scale[0], offset[0], nodata[0]
        raw = ds[src.band]
        valid = (raw != reader.fill) & (raw != xr.DataArray(nodata, dims=dims))
        value = raw.astype(np.float32) * xr.DataArray(scale.astype(np.float32), dims=dims)
        value = value + xr.DataArray(offset.astype(np.float32), dims=dims)
        out[src.band] = value.where(valid).transpose(*raw.dims)
        out[src.band].attrs = {"grid_mapping": "spatial_ref"}
    return out


def _dataset(
    reader: CubeReader, data: Any, several: bool, fill_value: float | None, rows: np.ndarray
) -> xr.Dataset:
    cube = reader.layout
    crs = G.to_crs(cube.grids[0].crs)
    x_attrs, y_attrs = cf.axis_attrs(crs)
    xy = [cf.centres(g) for g in cube.grids]
    coords: dict[str, Any] = {
        "time": ("time", cube.times),
        "id": ("time", np.array(cube.ids, dtype=object)),
        "spatial_ref": ((), 0, cf.grid_mapping(crs, None if several else cube.grids[0])),
    }
    dims: tuple[str, ...]
    if several:
        dims = ("geometry", "time", "y", "x")
        coords["geometry"] = ("geometry", np.array(cube.geometries))
        coords["x"] = (("geometry", "x"), np.stack([x for x, _ in xy]), x_attrs)
        coords["y"] = (("geometry", "y"), np.stack([y for _, y in xy]), y_attrs)
    else:
        dims = ("time", "y", "x")
        data = data[:, 0]
        coords["x"] = ("x", xy[0][0], x_attrs)
        coords["y"] = ("y", xy[0][1], y_attrs)
    variables = {
        src.band: (dims, data[c], _band_attrs(src, reader.fill, fill_value, rows))
        for c, src in enumerate(reader.sources)
    }
    return xr.Dataset(variables, coords=coords)
