"""The pixel reads behind `Collection.get_numpy`, `get_time_series` and `sample_points`.

A thin layer over the read engine, on plain inputs (the collection's rows without assets
and one `BandSource` per band, from `Collection.read_inputs`): `read.plan` turns the
geometries into slots (one output image per geometry and record, or per geometry and
group of records when they are merged), `read.scenes` reads every window of every slot as
one concurrent plan, and this module shapes the result (squeezed band axis, geometry
mask, physical values, the table of what each image is). The defaults of every argument
are `Collection`'s; see docs/pixels.md for the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa

from cogdex.index import arrays as A
from cogdex.io import fetch
from cogdex.read import grid as G
from cogdex.read.geometries import Areas, as_areas, warn_empty
from cogdex.read.physical import check_merges, physical, record_values
from cogdex.read.plan import Slot, inside, plan_slots
from cogdex.read.scenes import MERGES, Merge, default_fill, output_dtype, read_slots

if TYPE_CHECKING:
    from cogdex.index.band import BandSource
    from cogdex.read.points import PointExecutor, PointPlan


class Pixels(NamedTuple):
    """A `get_numpy` read: `data` [N, C, H, W] ([N, H, W] for one band), its boolean
    `valid` mask of the same shape, and, when asked for, the `table` of what each N is."""

    data: np.ndarray
    valid: np.ndarray
    table: pa.Table | None


class TimeSeries(NamedTuple):
    """A `get_time_series` read: `data` [T, C, H, W], its `valid` mask, and the `dates`
    (datetime64[D], ascending)."""

    data: np.ndarray
    valid: np.ndarray
    dates: np.ndarray


def get_numpy(
    table: pa.Table,
    sources: Sequence[BandSource],
    geometries: Any,
    *,
    geometry_crs: int | str | None,
    resolution: float | tuple[float, float] | None,
    crs: int | str | None,
    resampling: G.Resampling,
    fill_value: float | None,
    mask: bool,
    merge: Merge | None,
    group_by: str | None,
    dtype: Any,
    max_memory: int | None,
    use_overviews: bool,
    scale: bool,
    with_table: bool,
) -> Pixels:
    """`Collection.get_numpy` on the collection's rows `table` and one source per band
    (`with_table`: build the table of what each image is)."""
    if merge is not None and merge not in MERGES:
        raise ValueError(f"merge must be None or one of {', '.join(MERGES)}, not {merge!r}")
    if scale and (dtype is not None or fill_value is not None):
        raise ValueError("scale=True returns float32 with NaN for nodata: drop dtype/fill_value")
    slots, owner, areas = plan_slots(
        table, sources, geometries, geometry_crs=geometry_crs, resolution=resolution,
        crs=crs, merge=merge, group_by=group_by,
    )  # fmt: skip
    if scale:
        check_merges([np.asarray(s.rows) for s in slots], sources)
    data, valid = _read(slots, sources, resampling, fill_value, merge, dtype, max_memory,
                        use_overviews)  # fmt: skip
    if mask:
        _apply_geometry_mask(data, valid, slots, owner, areas, sources, fill_value)
    if scale:
        first = np.array([s.rows[0] for s in slots], np.int64)
        data = physical(data, valid, first, sources)
    slot_table = _slot_table(slots, owner, table) if with_table else None
    return Pixels(_squeeze(data, sources), _squeeze(valid, sources), slot_table)


def _read(
    slots: list[Slot],
    sources: Sequence[BandSource],
    resampling: G.Resampling,
    fill_value: float | None,
    merge: Merge | None,
    dtype: Any,
    max_memory: int | None,
    use_overviews: bool,
) -> tuple[np.ndarray, np.ndarray]:
    native = output_dtype(sources, sorted({r for s in slots for r in s.rows}) or None)
    out_dtype = np.dtype(dtype) if dtype is not None else native
    if slots:
        return fetch.run_read(read_slots(slots, sources, resampling=resampling, fill=fill_value,
                                      merge=merge or "first", dtype=dtype, max_memory=max_memory,
                                      use_overviews=use_overviews))  # fmt: skip
    empty = np.zeros((0, len(sources), 0, 0), dtype=out_dtype)
    return empty, empty.astype(bool)


def _apply_geometry_mask(
    data: np.ndarray,
    valid: np.ndarray,
    slots: list[Slot],
    owner: list[int],
    areas: Areas,
    sources: Sequence[BandSource],
    fill_value: float | None,
) -> None:
    fill = default_fill(sources, data.dtype, fill_value)
    cache: dict[int, np.ndarray] = {}
    for s, (slot, k) in enumerate(zip(slots, owner, strict=True)):
        kept = cache.get(k)
        if kept is None:
            kept = cache[k] = inside(areas.shapes[k], slot.grid, areas.crs)
        data[s][:, ~kept] = fill
        valid[s][:, ~kept] = False


def _squeeze(array: np.ndarray, sources: Sequence[Any]) -> np.ndarray:
    return array[:, 0] if len(sources) == 1 else array


def _slot_table(slots: list[Slot], owner: list[int], table: pa.Table) -> pa.Table:
    ids = table.column("id")
    times = table.column("datetime")
    first = np.array([s.rows[0] for s in slots], np.int64)
    members = np.array([r for s in slots for r in s.rows], np.int64)
    offsets = np.zeros(len(slots) + 1, np.int32)
    np.cumsum([len(s.rows) for s in slots], out=offsets[1:])
    flat = np.array([v for s in slots for v in s.grid.transform], np.float64)
    return pa.table(
        {
            "geometry_index": A.from_numpy(np.asarray(owner, np.int64)),
            "id": A.take(ids, first),
            "ids": pa.ListArray.from_arrays(A.from_numpy(offsets), A.take(ids, members)),
            "datetime": A.take(times, first),
            "crs": A.from_pylist([str(s.grid.crs) for s in slots], pa.string()),
            "transform": pa.FixedSizeListArray.from_arrays(A.from_numpy(flat), 6),
        }
    )


def get_time_series(
    table: pa.Table,
    sources: Sequence[BandSource],
    geometry: Any,
    *,
    geometry_crs: int | str | None,
    resolution: float | tuple[float, float] | None,
    crs: int | str | None,
    resampling: G.Resampling,
    fill_value: float | None,
    mask: bool,
    merge: Merge,
    dtype: Any,
    max_memory: int | None,
    use_overviews: bool,
    scale: bool,
) -> TimeSeries:
    """`Collection.get_time_series`: `get_numpy` of one geometry, records of one day merged
    into one time step, in date order."""
    areas = as_areas(geometry, geometry_crs)
    if len(areas) != 1:
        raise ValueError(f"get_time_series takes one geometry, got {len(areas)}")
    data, valid, slot_table = get_numpy(
        table, sources, areas, geometry_crs=None, resolution=resolution, crs=crs,
        resampling=resampling, fill_value=fill_value, mask=mask, merge=merge, group_by="date",
        dtype=dtype, max_memory=max_memory, use_overviews=use_overviews, scale=scale,
        with_table=True,
    )  # fmt: skip
    assert slot_table is not None
    dates = A.to_numpy(slot_table.column("datetime")).astype("datetime64[D]")
    order = np.argsort(dates, kind="stable")
    return TimeSeries(data[order], valid[order], dates[order])


def sample_points(
    table: pa.Table,
    sources: Sequence[BandSource],
    points: Any,
    *,
    geometry_crs: int | str | None,
    x_column: str,
    y_column: str,
    id_column: str | None,
    max_files: int,
    scale: bool,
    executor: PointExecutor | None = None,
) -> pa.Table:
    """`Collection.sample_points` on the collection's rows `table` and one source per band;
    with an `executor` (a plugin's, from `client=`) the tiles are read where it runs them."""
    from cogdex.read.geometries import as_points
    from cogdex.read.points import plan_points

    if executor is not None:
        points = executor.local_points(points)
    lon, lat, point_ids, x, y, crs = as_points(points, geometry_crs, x_column=x_column,
                                               y_column=y_column, id_column=id_column)  # fmt: skip
    rows = _rows_near(table, lon, lat)
    dtype = output_dtype(sources, rows.tolist() or None)
    fill = default_fill(sources, dtype, None)
    plan = plan_points(sources, lon, lat, rows.tolist(), fill=fill, dtype=dtype, given=(x, y, crs))
    names = [src.band for src in sources]
    lay_out = partial(_sample_columns, plan, names, point_ids, table)
    if executor is None:
        columns = fetch.run_read(plan.read(max_files, lay_out))
    else:
        # every band's store options are the collection's
        plan.fill(executor.run_tasks(plan, sources[0].store_options, max_files))
        columns = lay_out()
    if np.isfinite(lon).any() and not any(s.points.size for s in plan.samples):
        warn_empty("the points", (np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat)),
                   4326)  # fmt: skip
    columns["value"] = A.from_numpy(plan.values)
    order = ("point_id", "id", "datetime", "band", "value", "row", "col")
    samples = pa.table({name: columns[name] for name in order})
    return _physical_samples(samples, sources) if scale else samples


def _physical_samples(samples: pa.Table, sources: Sequence[BandSource]) -> pa.Table:
    """`samples` with `value` as float32 physical values (per record and band)."""
    raw = A.to_numpy(samples.column("value"))
    record = A.to_numpy(A.contiguous(samples.column("id")).indices).astype(np.int64)
    band = A.to_numpy(A.contiguous(samples.column("band")).indices).astype(np.int64)
    value = raw.astype(np.float32)
    for c, src in enumerate(sources):
        mine = band == c
        scale, offset, nodata = record_values(src, record[mine])
        part = raw[mine]
        with np.errstate(over="ignore"):  # nodata values (-3.4e38) scaled, then dropped
            scaled = value[mine] * scale.astype(np.float32) + offset.astype(np.float32)
        value[mine] = np.where(part == nodata, np.float32(np.nan), scaled)
    index = samples.column_names.index("value")
    return samples.set_column(index, "value", A.from_numpy(value))


def _rows_near(table: pa.Table, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Collection rows whose lon/lat bbox contains at least one point (a cheap prefilter)."""
    if len(lon) == 0:
        return np.zeros(0, np.int64)
    bbox = A.contiguous(table.column("bbox"))
    xmin, ymin, xmax, ymax = (A.to_numpy(bbox.field(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
    lo_x, hi_x, lo_y, hi_y = np.nanmin(lon), np.nanmax(lon), np.nanmin(lat), np.nanmax(lat)
    near = (xmin <= hi_x) & (xmax >= lo_x) & (ymin <= hi_y) & (ymax >= lo_y)
    return np.flatnonzero(near)


def _sample_columns(
    plan: PointPlan, names: list[str], point_ids: Any, table: pa.Table
) -> dict[str, pa.Array]:
    """Every column of the result but `value` (the plan's own, in the same order): one row
    per (point, band, record), written block by block (a record's points, once per band)
    into arrays that Arrow takes by buffer."""
    from cogdex.read.points import empty_column

    ids = A.contiguous(table.column("id"))
    times = A.contiguous(table.column("datetime"))
    stamps = A.to_numpy(times).astype(f"datetime64[{times.type.unit}]")
    moments, nat = stamps.view(np.int64), np.isnat(stamps)
    total = plan.values.size
    arrow_ids = isinstance(point_ids, pa.Array | pa.ChunkedArray)
    point = empty_column(total, np.int64)  # positions in the points (Arrow ids), else the ids
    record = empty_column(total, np.int32)
    time = empty_column(total, np.int64)
    missing = np.zeros(total, bool) if nat.any() else None
    band = empty_column(total, np.int32)
    row = empty_column(total, np.int32)
    col = empty_column(total, np.int32)
    at = 0
    for s in plan.samples:
        n = s.points.size
        point_values = s.points if arrow_ids else np.asarray(point_ids)[s.points]
        for b in s.bands:
            part = slice(at, at + n)
            point[part], record[part], time[part] = point_values, s.record, moments[s.record]
            band[part], row[part], col[part] = b, s.rows, s.cols
            if missing is not None:
                missing[part] = nat[s.record]
            at += n
    timestamps = A.from_numpy(time, pa.int64(), mask=missing)
    return {
        "point_id": A.take(point_ids, point) if arrow_ids else A.from_numpy(point),
        "id": pa.DictionaryArray.from_arrays(A.from_numpy(record), ids, safe=False),
        "datetime": pa.Array.from_buffers(
            times.type, total, timestamps.buffers(), timestamps.null_count
        ),
        "band": pa.DictionaryArray.from_arrays(
            A.from_numpy(band), A.from_pylist(names, pa.string()), safe=False
        ),
        "row": A.from_numpy(row),
        "col": A.from_numpy(col),
    }


__all__ = [
    "Pixels",
    "TimeSeries",
    "get_numpy",
    "get_time_series",
    "sample_points",
]
