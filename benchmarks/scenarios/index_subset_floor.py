"""The floor of the index-subset scenario: what no subset of this index can avoid.

Interpreter start + pyarrow (with the numpy it loads) + every file's footer (all parsed at
once, on threads) + reading only the columns the filter needs (id, datetime, cloud_cover, the
bbox covering) of only the row groups whose statistics may match + materialising the
matching rows. Row groups are pruned the way
pyarrow's dataset filters prune them (min/max statistics of each filtered column), but from
`pyarrow.parquet` footers: `pyarrow.dataset` (and `pq.read_table(filters=...)`, built on it)
imports pandas, about 0.2 s of a cold process, which no subset needs. Rows are filtered with
numpy (which pyarrow loads anyway) on the columns' buffers and taken by slicing: pyarrow's
`to_numpy()` and `Table.filter`/`take` would import pandas or `pyarrow.compute` (~40 ms).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import report
from subset_query import BBOX, CLOUD_LT, DATES, ids_digest

COLUMNS = ["id", "datetime", "cloud_cover", "bbox"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(day: str, end: bool) -> int:
    """A date bound as Parquet stores timestamp[us] (a bare end date: its whole day)."""
    moment = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    if end:
        moment += dt.timedelta(days=1, microseconds=-1)
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


# column -> (lowest allowed, highest allowed, highest is strict), in the statistics' units
xmin, ymin, xmax, ymax = BBOX
BOUNDS = {
    "bbox.xmin": (None, xmax, False),
    "bbox.xmax": (xmin, None, False),
    "bbox.ymin": (None, ymax, False),
    "bbox.ymax": (ymin, None, False),
    "datetime": (micros(DATES[0], False), micros(DATES[1], True), False),
    "cloud_cover": (None, CLOUD_LT, True),
}


def may_match(group: pq.RowGroupMetaData, where: dict[str, int]) -> bool:
    for path, (lo, hi, strict) in BOUNDS.items():
        st = group.column(where[path]).statistics
        if st is None or not st.has_min_max:
            continue
        if lo is not None and st.max_raw < lo:
            return False
        if hi is not None and (st.min_raw >= hi if strict else st.min_raw > hi):
            return False
    return True


def values(array: pa.Array | pa.ChunkedArray, dtype: str) -> np.ndarray:
    """A fixed-width column's values from its buffer (`to_numpy()` imports pandas)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return np.frombuffer(array.buffers()[1], dtype)[array.offset : array.offset + len(array)]


def matching(table: pa.Table) -> list[int]:
    box = table.column("bbox").combine_chunks()
    cols = {f"bbox.{n}": values(box.field(n), "f8") for n in ("xmin", "xmax", "ymin", "ymax")}
    cols["datetime"] = values(table.column("datetime"), "i8")
    cols["cloud_cover"] = values(table.column("cloud_cover"), "f8")
    keep = True
    for path, (lo, hi, strict) in BOUNDS.items():
        v = cols[path]
        if lo is not None:
            keep = keep & (v >= lo)
        if hi is not None:
            keep = keep & ((v < hi) if strict else (v <= hi))
    return [int(i) for i in keep.nonzero()[0]]


def open_all(paths: list[str]) -> list[pq.ParquetFile]:
    """Every file's reader, footers parsed at once on threads (Arrow parses them without
    the GIL), as a subsetter using all cores would."""
    opened: list[pq.ParquetFile | None] = [None] * len(paths)

    def one(k: int) -> None:
        opened[k] = pq.ParquetFile(paths[k])

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return opened  # type: ignore[return-value]


folder = os.environ["INDEX_PATH"]
rows = []
for pf in open_all([os.path.join(folder, n) for n in sorted(os.listdir(folder))]):
    meta = pf.metadata
    where = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
    groups = [g for g in range(meta.num_row_groups) if may_match(meta.row_group(g), where)]
    if groups:
        table = pf.read_row_groups(groups, columns=COLUMNS)
        rows += [table.slice(i, 1) for i in matching(table)]
found = pa.concat_tables(rows)
ids = found.column("id").to_pylist()
report(tool="floor", records=len(ids), digest=ids_digest(ids))
