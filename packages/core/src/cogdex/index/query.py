"""Record filters that prune Parquet row groups from footer statistics and then filter rows
with pyarrow.compute kernels.

`pyarrow.dataset` would do both, but importing it costs a second on a busy machine (it pulls
in pandas), which is most of a cold `load(...).subset(...)`; these few range conditions are
all a subset needs. User expressions (`Collection.where`) still go through Arrow's filter.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from cogdex.index import arrays as A


@dataclass(frozen=True)
class Range:
    """`lo <= column <= hi` (or strict where `strict_*`); `column` is a dotted leaf path,
    read as `fallback` where it is null (e.g. `end_datetime`, else `datetime`). Values are
    floats, or aware datetimes for timestamp columns."""

    column: str
    lo: Any = None
    hi: Any = None
    strict_lo: bool = False
    strict_hi: bool = False
    fallback: str | None = None


@dataclass(frozen=True)
class IsIn:
    column: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Where:
    """A user's pyarrow compute expression (`Collection.where`) over the non-asset columns:
    rows filtered by Arrow, row groups pruned by `pyarrow.dataset` from the statistics."""

    expression: Any


@dataclass(frozen=True)
class AnyOf:
    """Rows meeting every `Range` of at least one of `alternatives`: a lon/lat bbox across
    the antimeridian is the ranges of its two sides (`sides`), so a row group is pruned
    only where neither side's ranges may meet its statistics."""

    alternatives: tuple[tuple[Range, ...], ...]


@dataclass(frozen=True)
class Parts:
    """`bbox` (xmin, ymin, xmax, ymax; across the antimeridian where xmin > xmax) meets the
    footprint's RFC 7946 bbox, tested only for records whose stored bbox spans every
    longitude. A footprint across the antimeridian is stored split (a MultiPolygon, RFC
    7946), so its stored bbox is -180..180 and the `Range`s on `bbox.*` (the pyarrow fast
    path, which also prunes row groups) keep it at any longitude; the bbox of its two sides
    decides, for these few rows."""

    bbox: tuple[float, float, float, float]


Condition = Range | IsIn | Where | Parts | AnyOf


def sides(bbox: Sequence[float]) -> list[tuple[float, float, float, float]]:
    """A lon/lat bbox as plain boxes: itself, or for one across the antimeridian (xmin >
    xmax, as RFC 7946 and the STAC API write it) its side east of xmin and its side west
    of xmax, which together are what it means."""
    xmin, ymin, xmax, ymax = (float(v) for v in bbox)
    if xmin > xmax:
        return [(xmin, ymin, 180.0, ymax), (-180.0, ymin, xmax, ymax)]
    return [(xmin, ymin, xmax, ymax)]


def bbox_conditions(bbox: Sequence[float]) -> list[Condition]:
    """The pyarrow fast path of a lon/lat bbox filter on the `bbox` covering column: a
    stored bbox meets a plain box by four ranges, and one across the antimeridian where it
    meets either side's (see `Parts` for the footprints that themselves cross it)."""
    boxes = [
        (
            Range("bbox.xmin", hi=xmax),
            Range("bbox.xmax", lo=xmin),
            Range("bbox.ymin", hi=ymax),
            Range("bbox.ymax", lo=ymin),
        )
        for xmin, ymin, xmax, ymax in sides(bbox)
    ]
    return list(boxes[0]) if len(boxes) == 1 else [AnyOf(tuple(boxes))]


def _raw(value: Any) -> Any:
    """A bound as Parquet statistics store it (timestamps: microseconds since the epoch)."""
    if isinstance(value, dt.datetime):
        return int((value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) / dt.timedelta(microseconds=1))
    return value


def _scalar(value: Any, typ: pa.DataType) -> pa.Scalar:
    """`value` as an Arrow scalar of the column's type (`pa.scalar` imports pandas)."""
    return A.from_pylist([value], typ)[0]


def prepare(conditions: Sequence[Condition]) -> None:
    """Start importing `pyarrow.compute` on a thread when rows will be filtered by
    `conditions`, so that it loads while the caller parses Parquet footers and reads row
    groups (Arrow's C++ work, which releases the GIL) instead of after them. (A filter whose
    statistics rule out every row group loads it for nothing: rare, and off the main thread.)

    Its import wraps each of Arrow's ~290 kernels in a Python function with a generated
    docstring: ~30 ms of CPU, about a seventh of a cold `load(...).subset(...)`. Upstream
    (ARROW-12526, apache/arrow#13126) would generate those wrappers at build time; once a
    pyarrow release imports it in a few milliseconds, this can go."""
    if conditions and "pyarrow.compute" not in sys.modules:
        threading.Thread(
            target=importlib.import_module, args=("pyarrow.compute",), name="cogdex-prepare"
        ).start()


def _leaf(table: pa.Table, path: str) -> pa.Array | pa.ChunkedArray:
    import pyarrow.compute as pc

    head, *rest = path.split(".")
    column: Any = table.column(head)
    for name in rest:
        column = pc.struct_field(column, name)
    return column


def mask(table: pa.Table, conditions: Sequence[Condition]) -> pa.Array | pa.ChunkedArray | None:
    """The rows of `table` meeting every condition (null where a value is null, which
    `Table.filter` drops), or None for all."""
    import pyarrow.compute as pc  # here: a read without conditions never pays its import

    result = None
    for cond in conditions:
        if isinstance(cond, Where | Parts):
            continue  # `apply` filters by it
        if isinstance(cond, AnyOf):
            either = [mask(table, ranges) for ranges in cond.alternatives]
            part = either[0]
            for other in either[1:]:  # Kleene or: a null bound stays null only if no side met
                part = pc.or_kleene(part, other)
            result = part if result is None else pc.and_(result, part)
            continue
        column = _leaf(table, cond.column)
        if isinstance(cond, Range) and cond.fallback is not None:
            column = pc.coalesce(column, _leaf(table, cond.fallback))
        parts = []
        if isinstance(cond, IsIn):
            values = cond.values
            strings = all(isinstance(v, str) for v in values)
            value_set = A.from_pylist(values, pa.string()) if strings else pa.array(values)
            parts.append(pc.is_in(column, value_set=value_set))
        else:
            typ = column.type
            if cond.lo is not None:
                above = pc.greater if cond.strict_lo else pc.greater_equal
                parts.append(above(column, _scalar(cond.lo, typ)))
            if cond.hi is not None:
                below = pc.less if cond.strict_hi else pc.less_equal
                parts.append(below(column, _scalar(cond.hi, typ)))
        for part in parts:  # a null stays null, and `Table.filter` drops null rows
            result = part if result is None else pc.and_(result, part)
    return result


def apply(table: pa.Table, conditions: Sequence[Condition]) -> pa.Table:
    if not conditions:
        return table
    keep = mask(table, conditions)
    table = table if keep is None else table.filter(keep)
    for cond in conditions:
        if isinstance(cond, Where):
            table = table.filter(cond.expression)
        elif isinstance(cond, Parts):
            table = _parts_meet(table, cond.bbox)
    return table


def _parts_meet(table: pa.Table, bbox: tuple[float, float, float, float]) -> pa.Table:
    """`table` less the rows spanning every longitude whose footprint's RFC 7946 bbox does
    not meet `bbox`."""
    import pyarrow.compute as pc

    box = table.column("bbox")
    west, east = pc.struct_field(box, "xmin"), pc.struct_field(box, "xmax")
    wide = pc.and_(
        pc.less_equal(west, _scalar(-180.0, west.type)),
        pc.greater_equal(east, _scalar(180.0, east.type)),
    )
    rows = np.flatnonzero(A.to_numpy(wide, fill=False))
    if not rows.size:
        return table
    import shapely

    shapes = shapely.from_wkb(A.to_numpy(A.take(table.column("geometry"), rows)))
    keep = np.ones(table.num_rows, bool)  # a missing footprint has nothing to test: kept
    keep[rows] = [s is None or meets(footprint_bbox(s), bbox) for s in shapes]
    return table if keep.all() else table.filter(A.from_numpy(keep))


def footprint_bbox(shape: Any) -> tuple[float, ...]:
    """A lon/lat footprint's bbox as RFC 7946 writes it: xmin > xmax for one split at the
    antimeridian (by the `antimeridian` library, imported only for such footprints)."""
    bounds = tuple(shape.bounds)
    if bounds[0] > -180 or bounds[2] < 180:
        return bounds
    import antimeridian

    return tuple(antimeridian.bbox(shape))


def meets(box: Sequence[float], bbox: Sequence[float]) -> bool:
    """Whether two RFC 7946 bboxes meet (either may cross the antimeridian, xmin > xmax:
    then one of its `sides` meets); touching edges meet."""
    return any(
        not (a[0] > b[2] or a[2] < b[0] or a[1] > b[3] or a[3] < b[1])
        for a in sides(box)
        for b in sides(bbox)
    )


def columns(conditions: Sequence[Condition]) -> set[str] | None:
    """The top-level columns `conditions` test, or None where an expression may test any."""
    found = set()
    for cond in conditions:
        if isinstance(cond, Where):
            return None
        if isinstance(cond, Parts):  # its footprints: read after the others, see `later`
            found.add("bbox")
            continue
        if isinstance(cond, AnyOf):
            found |= columns([r for ranges in cond.alternatives for r in ranges]) or set()
            continue
        paths = (cond.column, cond.fallback) if isinstance(cond, Range) else (cond.column,)
        found |= {path.split(".")[0] for path in paths if path}
    return found


def later(conditions: Sequence[Condition]) -> tuple[list[Condition], list[Condition]]:
    """`conditions` split into those to test on the columns they name (`columns`) and
    those to test once the rest of a row is read (`Parts`, on the footprints of the few
    rows spanning every longitude: reading every candidate's footprint first would cost
    the geometry column of row groups without a match)."""
    now: list[Condition] = [c for c in conditions if not isinstance(c, Parts)]
    return now, [c for c in conditions if isinstance(c, Parts)]


def row_groups(metadata: Any, conditions: Sequence[Condition]) -> list[int]:
    """Row groups of a Parquet file (its `FileMetaData`) that may hold matching rows: those
    whose min/max statistics overlap every range condition, and for each `AnyOf` every
    range of one of its alternatives (no statistics: kept)."""
    n = metadata.num_row_groups
    ranges = [c for c in conditions if isinstance(c, Range)]
    either = [c.alternatives for c in conditions if isinstance(c, AnyOf)]
    if not (ranges or either) or n == 0:
        return list(range(n))
    every = [*ranges, *(r for alternatives in either for rs in alternatives for r in rs)]
    index = _leaves(metadata.schema, {c for r in every for c in (r.column, r.fallback) if c})

    def checks(group: Any, conds: Sequence[Range]) -> bool:
        return all(_may_meet(group, cond, index) for cond in conds)

    return [
        g
        for g in range(n)
        if checks(group := metadata.row_group(g), ranges)
        and all(any(checks(group, rs) for rs in alternatives) for alternatives in either)
    ]


def _leaves(schema: Any, paths: set[str]) -> dict[str, int]:
    """The leaf number of each of `paths` in a Parquet schema (those it has). The scan stops
    once all are found: filtered columns come before the thousands of header leaves."""
    found: dict[str, int] = {}
    for j in range(len(schema)):
        path = schema.column(j).path
        if path in paths:
            found[path] = j
            if len(found) == len(paths):
                break
    return found


def _may_meet(group: Any, cond: Range, index: dict[str, int]) -> bool:
    """Whether a row group's statistics of `cond`'s column (and its fallback, whose values
    may stand in anywhere: the bounds span both columns) overlap `cond`'s bounds; a column
    without statistics (or not in the file, `index`) may."""
    paths = [c for c in (cond.column, cond.fallback) if c is not None]
    if not all(p in index for p in paths):
        return True
    stats = [group.column(index[p]).statistics for p in paths]
    if any(st is None or not st.has_min_max for st in stats):
        return True
    lo, hi = _raw(cond.lo), _raw(cond.hi)
    top, bottom = max(st.max_raw for st in stats), min(st.min_raw for st in stats)
    below_lo = lo is not None and (top < lo or (cond.strict_lo and top <= lo))
    above_hi = hi is not None and (bottom > hi or (cond.strict_hi and bottom >= hi))
    return not (below_lo or above_hi)


__all__ = [
    "AnyOf",
    "Condition",
    "IsIn",
    "Parts",
    "Range",
    "Where",
    "apply",
    "bbox_conditions",
    "columns",
    "footprint_bbox",
    "later",
    "meets",
    "prepare",
    "row_groups",
    "sides",
]
