"""Record filters: numpy range masks and sliced row runs equal Arrow's kernels, and a cold
`load(...).subset(...)` parses each footer once and never imports pyarrow.compute."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cogdex
from cogdex.index import arrays as A
from cogdex.index import query as Q

UTC = dt.UTC
DAY = dt.datetime(2024, 1, 1, tzinfo=UTC)


def _same(got: pa.Table, want: pa.Table) -> bool:
    """Equal rows and schema (NaN equal to NaN, which `Table.equals` denies)."""
    return got.schema == want.schema and repr(got.to_pylist()) == repr(want.to_pylist())


def _table() -> pa.Table:
    """Columns with nulls, NaN, a struct with null parents, other units; three chunks."""
    rng = np.random.default_rng(7)
    n = 300
    x = rng.uniform(0, 10, n)
    x[::17] = np.nan
    box = pa.StructArray.from_arrays(
        [A.from_numpy(x, mask=np.arange(n) % 23 == 0), A.from_numpy(x + 1)],
        names=["xmin", "xmax"],
        mask=pa.array(np.arange(n) % 29 == 0),
    )
    when = [DAY + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 60, n)]
    table = pa.table(
        {
            "id": [f"s{i}" for i in range(n)],
            "count": A.from_numpy(rng.integers(-5, 5, n), pa.int32(), mask=np.arange(n) % 13 == 0),
            "when": A.from_pylist([None if i % 11 == 0 else w for i, w in enumerate(when)],
                                  pa.timestamp("ms", tz="UTC")),
            "cloud": A.from_numpy(rng.uniform(0, 100, n)),
            "bbox": box,
        }
    )  # fmt: skip
    return pa.concat_tables([table.slice(0, 100), table.slice(100, 150), table.slice(250)])


CONDITIONS = [
    [Q.Range("cloud", hi=30.0, strict_hi=True)],
    [Q.Range("count", lo=-1.5, hi=2.5)],  # bounds become the column's type, as for kernels
    [Q.Range("count", lo=0, strict_lo=True)],
    [Q.Range("when", lo=DAY + dt.timedelta(days=10), hi=DAY + dt.timedelta(days=20, hours=5))],
    [Q.Range("bbox.xmin", hi=5.0), Q.Range("bbox.xmax", lo=3.0)],  # nulls: child and parent
    [Q.Range("bbox.xmin", lo=2.0, strict_lo=True), Q.Range("cloud", lo=10.0)],
    [Q.Range("cloud", lo=1000.0)],  # nothing
    [Q.Range("cloud", lo=-1.0)],  # everything
]


@pytest.mark.parametrize("conditions", CONDITIONS)
def test_numpy_ranges_keep_the_rows_arrow_kernels_keep(conditions):
    table = _table()
    want = table.filter(Q.mask(table, conditions))
    assert _same(Q.apply(table, conditions), want)


def test_other_conditions_still_use_arrow():
    """Strings, fallbacks, sets and expressions: Arrow's kernels, with the same results."""
    import pyarrow.compute as pc

    table = _table()
    cases = [
        [Q.Range("id", lo="s5")],
        [Q.Range("when", lo=DAY + dt.timedelta(days=30), fallback="when")],
        [Q.IsIn("id", ("s1", "s7", "nope"))],
        [Q.Where(pc.field("cloud") > 50), Q.Range("cloud", hi=70.0)],
    ]
    for conditions in cases:
        keep = Q.mask(table, conditions)
        want = table if keep is None else table.filter(keep)
        for cond in conditions:
            if isinstance(cond, Q.Where):
                want = want.filter(cond.expression)
        assert _same(Q.apply(table, conditions), want)


@pytest.mark.parametrize("runs", [0, 1, 5, A.SLICED_RUNS, A.SLICED_RUNS + 1, 140])
def test_keep_rows_equals_filter(runs):
    table = _table()
    keep = np.zeros(table.num_rows, bool)
    for start in range(0, 2 * runs, 2):  # `runs` runs of one row, one row apart
        keep[start] = True
    keep[-1] = runs > 100  # a run at the very end
    got = A.keep_rows(table, keep)
    assert _same(got, table.filter(pa.array(keep)))
    got.validate(full=True)


def test_a_cold_subset_reads_each_footer_once_and_skips_pyarrow_compute(
    stac_files, tmp_path, monkeypatch
):
    """`open_index`'s footer serves the first read of that file; a cold subset imports
    neither the compute kernels nor the I/O runtime, which it never uses."""
    built = cogdex.build_from_stac(
        stac_files.items_json, name="query", bands=["B04"], cache_dir=tmp_path
    )
    parsed, given = [], []
    real_read, real_file = pq.read_metadata, pq.ParquetFile

    class Recording(real_file):  # the real reader, noting whether it got a parsed footer
        def __init__(self, source, *args, metadata=None, **kwargs):
            given.append(metadata is not None)
            super().__init__(source, *args, metadata=metadata, **kwargs)

    monkeypatch.setattr(pq, "read_metadata", lambda *a, **k: parsed.append(a) or real_read(*a, **k))
    monkeypatch.setattr(pq, "ParquetFile", Recording)
    coll = cogdex.load(built.location)
    assert coll.subset(cloud_cover_lt=101).ids == built.ids
    assert coll.subset(cloud_cover_lt=50).ids == built.subset(cloud_cover_lt=50).ids
    assert len(parsed) == 1 and given[:1] == [True]  # open_index's footer, read once
    assert not coll._files.footer and given[1:] == [False]  # then let go
    script = textwrap.dedent(f"""
        import sys
        import cogdex
        sub = cogdex.load({str(built.location)!r}).subset(
            bbox=(77, 19, 79, 21), date_range=("2020-01-01", "2030-01-01"), cloud_cover_lt=101)
        assert len(sub) == {len(built)} and sub.ids
        for module in ("pandas", "pyarrow.compute", "cogdex.io.runtime"):
            assert module not in sys.modules, module
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
