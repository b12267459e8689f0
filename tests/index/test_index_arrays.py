"""Arrow <-> numpy helpers: equal to pyarrow's own conversions, and never importing pandas."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from cogdex.index import arrays as A
from cogdex.index import schema as S

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))

# (values, type): every type the index and the pixel API convert, with nulls where allowed.
VALUES = [
    ([1, -2, None, 4, 5], pa.int8()),
    ([1, -2, None, 4, 5], pa.int16()),
    ([1, -2, None, 2**31 - 1, 5], pa.int32()),
    ([1, None, -(2**63), 2**63 - 1, 5], pa.int64()),
    ([1, 2, None, 255], pa.uint8()),
    ([1, 2, None, 65535], pa.uint16()),
    ([1, 2, None, 2**32 - 1], pa.uint32()),
    ([0, None, 2**64 - 1, 7], pa.uint64()),
    ([1.5, None, -0.0, 3], pa.float16()),
    ([1.5, None, float("inf"), 3], pa.float32()),
    ([1.5, None, float("nan"), 3, 1e300], pa.float64()),
    ([True, False, None, True, True, False, True, False, None, True], pa.bool_()),
    (
        [
            dt.datetime(2024, 1, 1, 5, 28, 31, 123456, tzinfo=UTC),
            None,
            dt.datetime(2024, 1, 1, 5, tzinfo=PLUS2),
            dt.datetime(1960, 6, 1),
        ],
        S.TIMESTAMP,
    ),
    ([dt.datetime(2024, 1, 1, 5, 6, 7, 890000), None], pa.timestamp("ms")),
    ([dt.datetime(2024, 1, 1, 5, 6, 7), None], pa.timestamp("s", tz="UTC")),
    ([dt.datetime(2024, 1, 1, 5, 6, 7, 1), None], pa.timestamp("ns")),
    (["x", None, "", "ünïcødé", "yz"], pa.string()),
    (["x", None, ""], pa.large_string()),
    ([b"ab", None, b"", "str", bytearray(b"c")], pa.binary()),
    ([b"ab", None], pa.large_binary()),
    ([[1.0, 2.0], None, [], [3.0]], pa.list_(pa.float64())),
    ([["a", None], None, []], pa.list_(pa.string())),
    ([(2, 2), (), None], pa.list_(pa.uint16())),
    ([np.arange(3, dtype=np.uint64), None], pa.list_(pa.uint64())),
    ([[1, 2]], pa.large_list(pa.int64())),
    ([(1.0, 2.0, 3.0, 4.0, 5.0, 6.0), None], pa.list_(pa.float64(), 6)),
    ([[[1.0, 2.0, 3.0, 4.0, 5.0]], None, []], pa.list_(pa.list_(pa.float64(), 5))),
    ([[("a", "1"), ("b", None)], None, [], {"c": "2"}], pa.map_(pa.string(), pa.string())),
    ([[{"k": "v"}, {}], None, []], pa.list_(pa.map_(pa.string(), pa.string()))),
    ([{"a": 1, "b": "x"}, None, {"a": None}], pa.struct([("a", pa.int32()), ("b", pa.string())])),
    ([None, None], pa.null()),
    ([], pa.float64()),
    ([], pa.string()),
    ([], pa.list_(pa.int64())),
]


@pytest.mark.parametrize(("values", "type"), VALUES, ids=lambda v: str(v))
def test_from_pylist_equals_pa_array(values, type):
    got = A.from_pylist(values, type)
    got.validate(full=True)
    want = pa.array(values, type)
    assert got.type == want.type
    # `equals` says NaN != NaN; the values' reprs then decide
    assert got.equals(want) or repr(got.to_pylist()) == repr(want.to_pylist())


def test_from_pylist_refuses_what_does_not_fit():
    with pytest.raises(OverflowError):
        A.from_pylist([2**63], pa.int64())
    with pytest.raises(TypeError):
        A.from_pylist([1], pa.string())
    with pytest.raises(TypeError):
        A.from_pylist([5], pa.binary())
    with pytest.raises(TypeError, match="not a datetime"):
        A.from_pylist([dt.date(2024, 1, 1)], S.TIMESTAMP)
    with pytest.raises(ValueError, match="items"):
        A.from_pylist([[1.0, 2.0]], pa.list_(pa.float64(), 3))
    with pytest.raises(TypeError, match="no Python-value conversion"):
        A.from_pylist([1], pa.decimal128(5, 2))


def _arrays() -> list[pa.Array]:
    arrays = [pa.array(v, t) for v, t in VALUES]
    arrays += [
        pa.array(np.arange(10, dtype=np.uint64)),
        pa.array([dt.date(2024, 1, 1), None, dt.date(2020, 2, 29)], pa.date32()),
        pa.array([1, None, 3], pa.date64()),
        pa.array([1, None, -3], pa.duration("ms")),
        pa.nulls(3, pa.int64()),
    ]
    return arrays


def _plain(value: object) -> object:
    """Nested numpy arrays (pyarrow's nested values) as the Python lists `to_pylist` gives."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    if got.dtype.kind in "fc":
        np.testing.assert_array_equal(got, want)  # NaN == NaN here
    elif got.dtype.kind == "O":
        for g, w in zip(got.tolist(), want.tolist(), strict=True):
            w = _plain(w)
            assert g == w and type(g) is type(w)
    else:
        assert got.tolist() == want.tolist()


@pytest.mark.parametrize("array", _arrays(), ids=lambda a: str(a.type))
@pytest.mark.parametrize("cut", [slice(None), slice(1, None), slice(1, 3), slice(3, 3)])
@pytest.mark.parametrize("chunked", [False, True])
def test_to_numpy_and_valid_equal_pyarrow(array, cut, chunked):
    part = array[cut]
    if chunked:  # several chunks, one of them empty
        part = pa.chunked_array([part[:1], part[1:1], part[1:]], part.type)
    _same(A.to_numpy(part), part.to_numpy(zero_copy_only=False))
    assert A.valid(part).tolist() == part.is_valid().to_pylist()


def test_to_numpy_of_no_chunks():
    _same(A.to_numpy(pa.chunked_array([], pa.int32())), np.zeros(0, np.int32))
    _same(A.to_numpy(pa.chunked_array([], pa.string())), np.zeros(0, object))


@pytest.mark.parametrize(
    ("array", "fill", "want"),
    [
        (pa.array([1, None, 3], pa.int32()), 0, np.array([1, 0, 3], np.int32)),
        (pa.array([1.5, None], pa.float64()), -1.0, np.array([1.5, -1.0])),
        (pa.array([True, None]), False, np.array([True, False])),
        (pa.array(["a", None]), "", np.array(["a", ""], object)),
        (
            pa.array([0, None], S.TIMESTAMP),
            np.datetime64(5, "us"),
            np.array([0, 5], "M8[us]"),
        ),
    ],
    ids=lambda v: str(getattr(v, "type", "")),
)
def test_to_numpy_fill_replaces_nulls(array, fill, want):
    _same(A.to_numpy(array[0:], fill), want)
    _same(A.to_numpy(array.slice(1), fill), want[1:])


def test_from_numpy_round_trips_with_mask():
    for dtype in [np.int8, np.uint16, np.int32, np.uint64, np.float32, np.float64, np.bool_]:
        values = (np.arange(20) % 3).astype(dtype)
        mask = np.arange(20) % 7 == 0
        got = A.from_numpy(values, mask=mask)
        got.validate(full=True)
        assert got.equals(pa.array(values, mask=mask))
        assert A.from_numpy(values[::2]).equals(pa.array(values[::2]))  # strided
    assert A.from_numpy(np.array([1, 2]), pa.uint16()).type == pa.uint16()
    assert A.from_numpy(np.zeros(0)).equals(pa.array(np.zeros(0)))
    with pytest.raises(TypeError):
        A.from_numpy(np.array(["a"]))


def test_from_numpy_timestamps_with_nat_and_mask():
    moments = np.array(["2024-01-01T00:00:01.5", "NaT", "1969-12-31T23:59:59"], "datetime64[ms]")
    for unit, tz in [("us", "UTC"), ("ms", None), ("ns", "UTC")]:
        typ = pa.timestamp(unit, tz=tz)
        got = A.from_numpy(moments, typ, mask=np.array([False, False, True]))
        got.validate(full=True)
        want = pa.array([moments[0].astype("datetime64[us]").item(), None, None], typ)
        assert got.equals(want)
        assert A.to_numpy(got)[0] == moments[0]


def test_take_runs_are_slices_and_other_orders_take():
    array = pa.array(np.arange(10))
    run = A.take(array, np.array([3, 4, 5]))
    assert run.to_pylist() == [3, 4, 5] and run.buffers()[1] == array.buffers()[1]  # no copy
    assert A.take(array, np.array([5, 4])).to_pylist() == [5, 4]
    assert A.take(array, np.array([], np.int64)).to_pylist() == []


def test_take_of_arrays_chunked_arrays_and_tables():
    chunked = pa.chunked_array([["a", "b"], ["c"]])
    assert A.take(chunked, np.array([2, 0])).to_pylist() == ["c", "a"]
    table = pa.table({"x": chunked})
    assert A.take(table, [1, 1]).column("x").to_pylist() == ["b", "b"]


def test_the_helpers_never_import_pandas():
    """pandas is installed here; each helper runs in a fresh process that must not load it."""
    script = textwrap.dedent("""
        import datetime as dt, sys
        import numpy as np, pyarrow as pa
        from cogdex.index import arrays as A
        a = A.from_pylist([1, None, 3], pa.int64())
        A.to_numpy(a); A.to_numpy(a, 0); A.valid(a)
        A.to_numpy(A.from_pylist([dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None],
                                 pa.timestamp("us", tz="UTC")))
        A.to_numpy(A.from_pylist(["x", None], pa.string()))
        A.to_numpy(A.from_pylist([True, None], pa.bool_()))
        A.from_pylist([{"k": "v"}], pa.map_(pa.string(), pa.string()))
        A.from_pylist([[1.0] * 6], pa.list_(pa.float64(), 6))
        A.take(A.from_numpy(np.arange(4.0), mask=np.arange(4) == 1), np.array([3, 1]))
        assert "pandas" not in sys.modules, "pandas was imported"
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
