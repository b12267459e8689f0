"""The pixel API of a Collection: `get_numpy` and `get_time_series`.

Both reduce to `read.scenes.read_slots`: one output image ("slot") per geometry and record
(or per geometry and date when records are merged), every slot on its geometry's target grid,
all windows of all slots read as one concurrent plan. See docs/pixels.md for the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import shapely

from cogdex.index import arrays as A
from cogdex.io import runtime
from cogdex.read import grid as G
from cogdex.read import targets
from cogdex.read.geometries import Areas, as_areas, warn_empty
from cogdex.read.physical import check_merges, physical, record_values
from cogdex.read.scenes import MERGES, Slot, default_fill, output_dtype, read_slots

if TYPE_CHECKING:
    from cogdex.collection import Collection
    from cogdex.index.band import BandSource

DEFAULT_MAX_MEMORY = 4 * 1024**3


def _band_list(collection: Collection, bands: str | Sequence[str]) -> list[str]:
    names = [bands] if isinstance(bands, str) else list(bands)
    if not names:
        raise ValueError("no bands given")
    unknown = [b for b in names if b not in collection.band_map]
    if unknown:
        raise KeyError(
            f"unknown band(s) {', '.join(unknown)} in {collection.name!r}; "
            f"bands: {', '.join(collection.bands)}"
        )
    return names


def _footprint_hits(collection: Collection, shapes: np.ndarray) -> list[np.ndarray]:
    """For each lon/lat geometry, the collection rows whose footprint intersects it (sorted)."""
    geometry = collection._light().column("geometry")  # not to_arrow(): no asset columns
    footprints = shapely.from_wkb(A.to_numpy(geometry))
    g, r = shapely.STRtree(footprints).query(shapes, predicate="intersects")
    order = np.lexsort((r, g))
    g, r = g[order], r[order]
    return [r[g == k] for k in range(len(shapes))]


def _anchor(sources: Sequence[BandSource], rows: np.ndarray) -> G.Grid | None:
    """Level-0 grid of the first row (in order) that has the first available band."""
    from cogdex.read.scenes import _level_grid

    for src in sources:
        pos = {int(r): i for i, r in enumerate(src.rows)}
        for row in rows.tolist():
            if row in pos and np.isfinite(src.transform[pos[row]]).all():
                return _level_grid(src, pos[row], 0)
    return None


def _group_keys(table: pa.Table, rows: np.ndarray, group_by: str | None) -> list[Any]:
    if group_by is None:
        return [0] * len(rows)
    if group_by == "date":
        days = A.to_numpy(table.column("datetime"))[rows]
        return days.astype("datetime64[D]").tolist()
    if group_by not in table.column_names:
        raise KeyError(f"group_by column {group_by!r} is not in the collection")
    return A.to_numpy(table.column(group_by))[rows].tolist()


def plan_slots(
    collection: Collection,
    geometries: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: int | str | None = None,
    resolution: float | tuple[float, float] | None = None,
    crs: int | str | None = None,
    merge: str | None = None,
    group_by: str | None = "date",
) -> tuple[list[Slot], list[int], Areas, list[BandSource], pa.Table]:
    """(slots, geometry index of each slot, geometries, band sources, table). A geometry
    that meets no record has no slot, and an `EmptyReadWarning` names its bounds."""
    names = _band_list(collection, bands)
    areas = as_areas(geometries, geometry_crs)
    sources = collection.band_sources(names)
    hits = _footprint_hits(collection, areas.lonlat)
    table = collection._light()  # ids, dates and keys: no assets, no geo metadata
    grids: list[G.Grid | None] = []
    for k, (shape, rows) in enumerate(zip(areas.shapes, hits, strict=True)):
        anchor = _anchor(sources, rows)
        if anchor is None:
            what = f"geometry {k}" if len(areas) > 1 else "the geometry"
            warn_empty(what, shape.bounds, areas.crs)
            grids.append(None)
            continue
        grids.append(targets.target_grid(shape, anchor, crs=crs, resolution=resolution,
                                         geometry_crs=areas.crs))  # fmt: skip
    known = [g for g in grids if g is not None]
    if not known:
        return [], [], areas, sources, table
    grids = targets.same_shape(known) if len(known) == len(grids) else _fill_missing(grids)
    slots: list[Slot] = []
    owner: list[int] = []
    for k, (grid, rows) in enumerate(zip(grids, hits, strict=True)):
        if grid is None or len(rows) == 0:
            continue
        if merge is None:
            for row in rows.tolist():
                slots.append(Slot(grid, (row,)))
                owner.append(k)
            continue
        keys = _group_keys(table, rows, group_by)
        groups: dict[Any, list[int]] = {}
        for key, row in zip(keys, rows.tolist(), strict=True):
            groups.setdefault(key, []).append(row)
        for key in sorted(groups, key=lambda v: (v is None, v)):
            slots.append(Slot(grid, tuple(groups[key])))
            owner.append(k)
    return slots, owner, areas, sources, table


def _fill_missing(grids: list[G.Grid | None]) -> list[G.Grid | None]:
    known = targets.same_shape([g for g in grids if g is not None])
    it = iter(known)
    return [None if g is None else next(it) for g in grids]


def get_numpy(
    collection: Collection,
    geometries: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: int | str | None = None,
    resolution: float | tuple[float, float] | None = None,
    crs: int | str | None = None,
    resampling: G.Resampling = "nearest",
    fill_value: float | None = None,
    mask: bool = False,
    merge: str | None = None,
    group_by: str | None = "date",
    dtype: Any = None,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    return_mask: bool = False,
    return_table: bool = False,
    use_overviews: bool = True,
    scale: bool = False,
) -> Any:
    """Pixels of `bands` over `geometries`, as [N, C, H, W] ([N, H, W] for one band).

    One N per (geometry, intersecting record), or with `merge` one per (geometry, group of
    records: same day by default, `group_by=None` for all), merged by that rule. With
    `return_mask` a boolean valid-pixel mask of the same shape follows the array; with
    `return_table` a pyarrow Table says which geometry and record(s) each N is, its date
    and its grid. `geometry_crs` is the CRS of `geometries` that carry none (default
    lon/lat). A geometry that meets no record adds no N (an `EmptyReadWarning` says so). A
    read whose estimated peak exceeds `max_memory` bytes (default 4 GiB) raises
    `MemoryLimitError` before any request: the output and its valid mask, plus the windows
    decoding or warping at once, the compressed tiles, and a merge's working arrays (the
    process's tile cache is bounded apart, by COGDEX_TILE_CACHE_MB); `max_memory=None`
    lifts the guard. Values are
    the files' own (native dtype); `scale=True` returns float32 physical values,
    `raw * scale + offset` with NaN for nodata (see `cogdex.read.physical`). See
    docs/pixels.md.
    """
    if merge is not None and merge not in MERGES:
        raise ValueError(f"merge must be None or one of {', '.join(MERGES)}, not {merge!r}")
    if scale and (dtype is not None or fill_value is not None):
        raise ValueError("scale=True returns float32 with NaN for nodata: drop dtype/fill_value")
    slots, owner, areas, sources, table = plan_slots(
        collection, geometries, bands, geometry_crs=geometry_crs, resolution=resolution,
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
    result: list[Any] = [_squeeze(data, sources)]
    if return_mask:
        result.append(_squeeze(valid, sources))
    if return_table:
        result.append(_slot_table(slots, owner, table))
    return result[0] if len(result) == 1 else tuple(result)


def _read(slots, sources, resampling, fill_value, merge, dtype, max_memory,
          use_overviews) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    native = output_dtype(sources, sorted({r for s in slots for r in s.rows}) or None)
    out_dtype = np.dtype(dtype) if dtype is not None else native
    if slots:
        return runtime.run(read_slots(slots, sources, resampling=resampling, fill=fill_value,
                                      merge=merge or "first", dtype=dtype, max_memory=max_memory,
                                      use_overviews=use_overviews))  # fmt: skip
    empty = np.zeros((0, len(sources), 0, 0), dtype=out_dtype)
    return empty, empty.astype(bool)


def _apply_geometry_mask(data, valid, slots, owner, areas: Areas, sources, fill_value) -> None:
    fill = default_fill(sources, data.dtype, fill_value)
    cache: dict[int, np.ndarray] = {}
    for s, (slot, k) in enumerate(zip(slots, owner, strict=True)):
        inside = cache.get(k)
        if inside is None:
            inside = cache[k] = targets.inside(areas.shapes[k], slot.grid, areas.crs)
        data[s][:, ~inside] = fill
        valid[s][:, ~inside] = False


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
    collection: Collection,
    geometry: Any,
    bands: str | Sequence[str],
    *,
    merge: str = "first",
    **kwargs: Any,
) -> tuple[np.ndarray, ...]:
    """All records over one geometry stacked in time: ([T, C, H, W], dates), or
    ([T, C, H, W], valid mask, dates) with `return_mask=True`.

    Records of the same day (e.g. two tiles of one overpass) are merged into one time step
    with `merge`; `dates` are numpy datetime64[D], ascending.
    """
    areas = as_areas(geometry, kwargs.pop("geometry_crs", None))
    if len(areas) != 1:
        raise ValueError(f"get_time_series takes one geometry, got {len(areas)}")
    with_mask = kwargs.pop("return_mask", False)
    result = get_numpy(collection, areas, bands, merge=merge, group_by="date",
                       return_mask=with_mask, return_table=True, **kwargs)  # fmt: skip
    table = result[-1]
    dates = A.to_numpy(table.column("datetime")).astype("datetime64[D]")
    order = np.argsort(dates, kind="stable")
    if with_mask:
        return result[0][order], result[1][order], dates[order]
    return result[0][order], dates[order]


def sample_points(
    collection: Collection,
    points: Any,
    bands: str | Sequence[str],
    *,
    geometry_crs: int | str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    id_column: str | None = None,
    max_files: int = 16,
    scale: bool = False,
) -> pa.Table:
    """The value of every band at every point, in every record whose file covers it.

    One row per (point, band, record): `point_id` (position in `points`, or `id_column`),
    `id` (record), `datetime`, `band`, `value` (native type), `row`/`col` (pixel). Points
    in a record's nodata or sparse tiles get its nodata value (else 0); points outside
    every record give no rows, and when none meets a record an `EmptyReadWarning` says so.
    `scale=True` makes `value` float32 `raw * scale + offset`, NaN at the record's nodata
    (see `cogdex.read.physical`).
    """
    from cogdex.read.geometries import as_points
    from cogdex.read.points import sample

    names = _band_list(collection, bands)
    lon, lat, point_ids = as_points(points, geometry_crs, x_column=x_column, y_column=y_column,
                                    id_column=id_column)  # fmt: skip
    sources = collection.band_sources(names)
    table = collection._light()  # ids, dates and keys: no assets, no geo metadata
    rows = _rows_near(table, lon, lat)
    dtype = output_dtype(sources, rows.tolist() or None)
    fill = default_fill(sources, dtype, None)
    found = runtime.run(
        sample(sources, lon, lat, rows.tolist(), fill=fill, dtype=dtype, max_files=max_files)
    )
    if np.isfinite(lon).any() and not any(s.points.size for s in found):
        warn_empty("the points", (np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat)),
                   4326)  # fmt: skip
    samples = _samples_table(found, names, point_ids, table, dtype)
    return _physical_samples(samples, sources) if scale else samples


def _physical_samples(samples: pa.Table, sources: Sequence[BandSource]) -> pa.Table:
    """`samples` with `value` as float32 physical values (per record and band)."""
    raw = A.to_numpy(samples.column("value"))
    record = A.to_numpy(samples.column("id").combine_chunks().indices).astype(np.int64)
    band = A.to_numpy(samples.column("band").combine_chunks().indices).astype(np.int64)
    value = raw.astype(np.float32)
    for c, src in enumerate(sources):
        mine = band == c
        scale, offset, nodata = record_values(src, record[mine])
        part = raw[mine]
        scaled = value[mine] * scale.astype(np.float32) + offset.astype(np.float32)
        value[mine] = np.where(part == nodata, np.float32(np.nan), scaled)
    index = samples.column_names.index("value")
    return samples.set_column(index, "value", A.from_numpy(value))


def _rows_near(table: pa.Table, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Collection rows whose lon/lat bbox contains at least one point (a cheap prefilter)."""
    if len(lon) == 0:
        return np.zeros(0, np.int64)
    bbox = table.column("bbox").combine_chunks()
    xmin, ymin, xmax, ymax = (A.to_numpy(bbox.field(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
    lo_x, hi_x, lo_y, hi_y = np.nanmin(lon), np.nanmax(lon), np.nanmin(lat), np.nanmax(lat)
    near = (xmin <= hi_x) & (xmax >= lo_x) & (ymin <= hi_y) & (ymax >= lo_y)
    return np.flatnonzero(near)


def _samples_table(found, names: list[str], point_ids: np.ndarray, table: pa.Table,
                   dtype: np.dtype) -> pa.Table:  # fmt: skip
    """One row per (point, band, record), every column written once into its final array."""
    ids = table.column("id").combine_chunks()
    times = table.column("datetime").combine_chunks()
    total = sum(s.points.size * len(s.bands) for s in found)
    point = np.empty(total, np.int64)
    record = np.empty(total, np.int32)
    band = np.empty(total, np.int32)
    value = np.empty(total, dtype)
    row = np.empty(total, np.int32)
    col = np.empty(total, np.int32)
    at = 0
    for s in found:
        n = s.points.size
        for k, b in enumerate(s.bands):
            part = slice(at, at + n)
            point[part], record[part], band[part] = s.points, s.record, b
            value[part], row[part], col[part] = s.values[k], s.rows, s.cols
            at += n
    if isinstance(point_ids, pa.Array | pa.ChunkedArray):
        point_column = A.take(point_ids, point)
    else:
        point_column = A.from_numpy(np.asarray(point_ids)[point])
    return pa.table(
        {
            "point_id": point_column,
            "id": pa.DictionaryArray.from_arrays(A.from_numpy(record), ids),
            "datetime": A.from_numpy(A.to_numpy(times)[record], times.type),
            "band": pa.DictionaryArray.from_arrays(
                A.from_numpy(band), A.from_pylist(names, pa.string())
            ),
            "value": A.from_numpy(value),
            "row": A.from_numpy(row),
            "col": A.from_numpy(col),
        }
    )
