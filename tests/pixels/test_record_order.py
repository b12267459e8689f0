"""A read takes its records in time order (datetime, then id), never in the table's row order:
a build's spatial sort, `extend`, positional indexing and an export and load all change the
row order of the same records, and the same call on the same records must give the same
pixels (the grid's anchor, a merge's `first`/`last`, the order of the images)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import cogdex
from cogdex.read.plan import record_order
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
AOI = (LON - 0.01, LAT - 0.008, LON + 0.012, LAT + 0.01)  # straddles the 43N/44N boundary


@pytest.fixture(scope="module")
def reordered(pixel_coll, tmp_path_factory):
    """The same records in three other row orders: shuffled, reversed, and rotated by
    `extend` and then exported and loaded (the export sorts its rows spatially)."""
    n = len(pixel_coll)
    folder = tmp_path_factory.mktemp("reordered")
    rotated = pixel_coll[n // 2 :].extend(pixel_coll[: n // 2])
    loaded = cogdex.load(rotated.export(folder / "rotated.parquet"))
    assert loaded.ids != rotated.ids  # the export put the extended rows in another order
    return {
        "shuffled": pixel_coll[np.random.default_rng(7).permutation(n)],
        "reversed": pixel_coll[::-1],
        "extended": rotated,
        "extended, exported, loaded": loaded,
    }


@pytest.mark.parametrize(
    "call",
    [
        {},
        {"merge": "first"},
        {"merge": "first", "group_by": None},
        {"merge": "last", "group_by": None},
        {"crs": 32644, "resolution": 20, "merge": "first", "group_by": None},
    ],
    ids=["per-record", "first-by-day", "first-of-all", "last-of-all", "warped-first"],
)
def test_the_same_records_in_any_row_order_read_the_same_pixels(pixel_coll, reordered, call):
    want, want_table = pixel_coll.get_numpy(AOI, "B04", return_table=True, **call)
    assert len({tuple(ids) for ids in want_table.column("ids").to_pylist()}) == len(want)
    for how, other in reordered.items():
        got, table = other.get_numpy(AOI, "B04", return_table=True, **call)
        np.testing.assert_array_equal(got, want, err_msg=how)
        for column in ("id", "ids", "crs", "transform"):
            assert table.column(column).to_pylist() == want_table.column(column).to_pylist()


def test_images_come_in_time_order_and_first_is_the_earliest(pixel_coll, scenes):
    per_record, table = pixel_coll.get_numpy(AOI, "B04", return_table=True)
    when = table.column("datetime").to_pylist()
    assert when == sorted(when)
    first = pixel_coll.get_numpy(AOI, "B04", merge="first", group_by=None)[0]
    last = pixel_coll.get_numpy(AOI, "B04", merge="last", group_by=None)[0]
    for merged, layers in ((first, per_record), (last, per_record[::-1])):
        expect = np.zeros_like(merged)
        done = np.zeros(merged.shape, bool)
        for layer in layers:
            take = (layer != 0) & ~done
            expect[take] = layer[take]
            done |= layer != 0
        np.testing.assert_array_equal(merged, expect)


def test_record_order_is_by_datetime_then_id_with_undated_records_last():
    import pyarrow as pa

    table = pa.table(
        {
            "id": ["d", "c", "b", "a", "e"],
            "datetime": pa.array(
                [
                    dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                    dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    None,
                    dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                    None,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    rows = np.arange(5)
    assert [table.column("id")[int(r)].as_py() for r in rows[record_order(table, rows)]] == [
        "c", "a", "d", "b", "e"
    ]  # fmt: skip
