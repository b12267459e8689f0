"""Arrow <-> numpy helpers: equal to pyarrow's own conversions, and never importing pandas."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from cogdex.index import arrays as A

CASES = [
    pa.array([1, 2, None, 4], pa.int32()),
    pa.array([1.5, None, 3.0], pa.float64()),
    pa.array(np.arange(10, dtype=np.uint64)),
    pa.array([True, False, True, None, True, True, False, True, False]),
    pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")),
    pa.array([dt.date(2024, 1, 1), dt.date(2020, 2, 29)], pa.date32()),
    pa.array([b"ab", None, b"c"]),
    pa.array(["x", "yz"]),
]


@pytest.mark.parametrize("array", CASES, ids=lambda a: str(a.type))
@pytest.mark.parametrize("cut", [slice(None), slice(1, None), slice(1, 3)])
def test_to_numpy_and_valid_match_pyarrow(array, cut):
    part = array[cut]
    ok = A.valid(part)
    assert ok.tolist() == part.is_valid().to_pylist()
    fill = 0 if part.null_count and part.type != pa.binary() else None
    if pa.types.is_timestamp(part.type) and part.null_count:
        fill = np.datetime64("NaT", "us")
    got = A.to_numpy(pa.chunked_array([part]), fill)
    want = part.to_pylist()
    for g, w, k in zip(got.tolist(), want, ok, strict=True):
        if not k:
            continue
        if isinstance(w, dt.datetime):
            g = g.replace(tzinfo=dt.UTC)
        assert g == w


def test_nulls_without_fill_are_an_error():
    with pytest.raises(ValueError, match="nulls"):
        A.to_numpy(pa.array([1, None], pa.int64()))


def test_builders_round_trip():
    values = np.array([3, 1, 2], np.int16)
    assert A.from_numpy(values).to_pylist() == [3, 1, 2]
    assert A.from_numpy(values).type == pa.int16()
    assert A.strings(["a", "", "ünï"]).to_pylist() == ["a", "", "ünï"]
    assert A.take(pa.chunked_array([["a", "b"], ["c"]]), np.array([2, 0])).to_pylist() == ["c", "a"]
