"""Arrow <-> numpy and Python values -> Arrow, without pyarrow's pandas bridge.

pyarrow 26's `to_numpy()`, `pa.array(...)`, `pa.scalar(...)` and `Table.take(ndarray)` go
through its pandas-compatible converter, which imports pandas when it is installed (~0.3 s in
a data-science environment, paid by every short-lived process that loads or builds an index).
Arrow arrays are plain buffers, so these helpers read and build them with `buffers()` and
`Array.from_buffers()`, which never touch pandas.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_NUMPY: dict[pa.DataType, np.dtype] = {
    t: np.dtype(n)
    for t, n in [
        (pa.int8(), np.int8), (pa.int16(), np.int16), (pa.int32(), np.int32),
        (pa.int64(), np.int64), (pa.uint8(), np.uint8), (pa.uint16(), np.uint16),
        (pa.uint32(), np.uint32), (pa.uint64(), np.uint64), (pa.float16(), np.float16),
        (pa.float32(), np.float32), (pa.float64(), np.float64), (pa.bool_(), np.bool_),
    ]
}  # fmt: skip
_ARROW = {v: k for k, v in _NUMPY.items()}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PER_MICROSECOND = {"s": (1, 1_000_000), "ms": (1, 1000), "us": (1, 1), "ns": (1000, 1)}
_PYARROW = object()  # to_numpy's default: nulls as pyarrow's own to_numpy writes them


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table of no rows of `schema` (`Schema.empty_table` makes its columns with
    `pa.array([])`, which imports pandas)."""
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`array` as one Arrow array: `ChunkedArray.combine_chunks`, except that a column of
    no chunks (a table filtered to no rows) becomes `pa.nulls(0)` of its type, where
    pyarrow's makes it with `pa.array([])`, which imports pandas (~0.2-0.4 s of a cold
    process)."""
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1:
            return array.chunk(0)
        return pa.nulls(0, array.type) if array.num_chunks == 0 else array.combine_chunks()
    return array


def _bits(buffer: pa.Buffer | None, offset: int, n: int) -> np.ndarray:
    """n bits of an Arrow bitmap from bit `offset`, as booleans."""
    if n == 0 or buffer is None:
        return np.zeros(n, bool)
    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), count=offset + n, bitorder="little")
    return bits[offset:].astype(bool)


def _bitmap(flags: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(flags, bitorder="little"))


def struct(
    children: Sequence[pa.Array], fields: Sequence[pa.Field], valid: np.ndarray | None = None
) -> pa.StructArray:
    """A struct array of `children`, null where `valid` is False (`StructArray.from_arrays`'
    own `mask=` goes through pyarrow.compute)."""
    if valid is None or bool(np.all(valid)):
        return pa.StructArray.from_arrays(children, fields=list(fields))
    return pa.StructArray.from_buffers(
        pa.struct(list(fields)), len(valid), [_bitmap(valid)], children=list(children)
    )


def _numpy_type(t: pa.DataType) -> np.dtype | None:
    """The numpy dtype of a fixed-width Arrow type's values, or None (no buffer view)."""
    if pa.types.is_timestamp(t):
        return np.dtype(f"M8[{t.unit}]")
    if pa.types.is_duration(t):
        return np.dtype(f"m8[{t.unit}]")
    if pa.types.is_date32(t):
        return np.dtype("M8[D]")
    if pa.types.is_date64(t):
        return np.dtype("M8[ms]")
    return _NUMPY.get(t)


def valid(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Boolean numpy mask of the non-null entries."""
    array = contiguous(array)
    if pa.types.is_null(array.type):
        return np.zeros(len(array), bool)
    if array.null_count == 0:
        return np.ones(len(array), bool)
    return _bits(array.buffers()[0], array.offset, len(array))


def to_numpy(array: pa.Array | pa.ChunkedArray, fill: Any = _PYARROW) -> np.ndarray:
    """The values of an Arrow array as numpy, equal to pyarrow's
    `to_numpy(zero_copy_only=False)`: fixed-width values as a (read-only) view of their
    buffer, nulls as NaN (integers become float64), NaT, or None (booleans become object);
    strings, binary and other types as an object array of `to_pylist()` values (nested
    values stay Python lists). With `fill`, nulls take that value instead."""
    array = contiguous(array)
    n = len(array)
    dtype = _numpy_type(array.type)
    if dtype is None:
        out = np.fromiter(array.to_pylist(), dtype=object, count=n)
        if fill is not _PYARROW and array.null_count:
            out[~valid(array)] = fill
        return out
    buffer = array.buffers()[1]
    if dtype == np.bool_:
        values = _bits(buffer, array.offset, n)
    elif n == 0 or buffer is None:
        values = np.zeros(n, dtype)
    elif pa.types.is_date32(array.type):
        values = np.frombuffer(buffer, np.int32, n, array.offset * 4).astype(dtype)
    else:
        values = np.frombuffer(buffer, dtype, n, array.offset * dtype.itemsize)
    if not array.null_count:
        return values
    if fill is _PYARROW and dtype == np.bool_:
        values, fill = values.astype(object), None
    elif fill is _PYARROW:
        fill = dtype.type("NaT", np.datetime_data(dtype)[0]) if dtype.kind in "mM" else np.nan
    return np.where(valid(array), values, fill)


def from_numpy(
    values: np.ndarray | Sequence[Any],
    type: pa.DataType | None = None,
    *,
    mask: np.ndarray | None = None,
) -> pa.Array:
    """A numeric, boolean or timestamp Arrow array of numpy values, by buffer; `mask` is
    True where a value is null (as `pa.array(..., mask=)`; NaT is null too). `type`
    converts the values first."""
    data = np.asarray(values)
    if type is not None and pa.types.is_timestamp(type):
        moments = data.astype(f"datetime64[{type.unit}]")
        nat = np.isnat(moments)
        if nat.any():
            mask = nat if mask is None else (np.asarray(mask, bool) | nat)
        ints = from_numpy(moments.view(np.int64), pa.int64(), mask=mask)
        return pa.Array.from_buffers(type, len(ints), ints.buffers(), ints.null_count)
    arrow_type = type or _ARROW.get(data.dtype)
    if arrow_type is None or arrow_type not in _NUMPY:
        raise TypeError(f"no buffer conversion from {data.dtype} to {arrow_type}")
    data = np.ascontiguousarray(data, _NUMPY[arrow_type])
    if data.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {data.shape}")
    buffer = _bitmap(data) if arrow_type == pa.bool_() else pa.py_buffer(data)
    nulls = 0 if mask is None else int(np.count_nonzero(mask))
    validity = _bitmap(~np.asarray(mask, bool)) if nulls else None
    return pa.Array.from_buffers(arrow_type, len(data), [validity, buffer], null_count=nulls)


def _offsets(lengths: Sequence[int] | np.ndarray, large: bool) -> pa.Buffer:
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not large and offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("values over 2 GiB need a large_string/large_binary/large_list type")
    return pa.py_buffer(offsets if large else offsets.astype(np.int32))


def _microseconds(value: dt.datetime | None) -> int:
    """Microseconds since the epoch (0 for None, a null's placeholder)."""
    if value is None:
        return 0
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{value!r} is not a datetime")
    moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def to_datetimes(array: pa.Array) -> list[dt.datetime | None]:
    """A microsecond timestamp array as aware UTC datetimes (None where null), the inverse
    of `from_pylist` for them: pyarrow's `to_pylist` of a time-zoned timestamp imports
    pandas (half a second of a cold read)."""
    micros = array.view(pa.int64()).to_pylist()
    return [None if v is None else _EPOCH + dt.timedelta(microseconds=v) for v in micros]


def from_pylist(values: Sequence[Any], type: pa.DataType) -> pa.Array:
    """An Arrow array of Python values of a known type (None is null), like
    `pa.array(values, type)` for numbers, booleans, strings, binary, datetimes (naive ones
    read as UTC) and lists, fixed-size lists, structs (of mappings) and maps (of mappings or
    key/value pairs) of those; numpy arrays are accepted where lists are."""
    n = len(values)
    if pa.types.is_null(type):
        return pa.nulls(n)
    present = np.fromiter((v is not None for v in values), bool, n)
    nulls = n - int(np.count_nonzero(present))
    buffers, children = _layout(values, type, nulls)
    validity = _bitmap(present) if nulls else None
    return pa.Array.from_buffers(type, n, [validity, *buffers], null_count=nulls, children=children)


def _layout(
    values: Sequence[Any], t: pa.DataType, nulls: int
) -> tuple[list[pa.Buffer], list[pa.Array]]:
    """The buffers after the validity bitmap, and the child arrays, of `values` as `t`."""
    if pa.types.is_timestamp(t):
        scale, divide = _PER_MICROSECOND[t.unit]
        us = np.fromiter(map(_microseconds, values), np.int64, len(values))
        return [pa.py_buffer(us * scale // divide)], []
    if t in _NUMPY:
        filler = False if t == pa.bool_() else 0
        raw = [filler if v is None else v for v in values] if nulls else values
        array = np.array(raw, _NUMPY[t]).reshape(len(values))
        return [_bitmap(array) if t == pa.bool_() else pa.py_buffer(array)], []
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _variable([b"" if v is None else str.encode(v) for v in values], t), []
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return _variable([b"" if v is None else _bytes(v) for v in values], t), []
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        wrong = [len(v) for v in values if v is not None and len(v) != size]
        if wrong:
            raise ValueError(f"a value of {wrong[0]} items for {t}")
        flat = list(
            itertools.chain.from_iterable([None] * size if v is None else v for v in values)
        )
        return [], [from_pylist(flat, t.value_type)]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        rows = [() if v is None else v for v in values]
        if pa.types.is_map(t):
            rows = [list(v.items()) if isinstance(v, Mapping) else v for v in rows]
        lengths = np.fromiter(map(len, rows), np.int64, len(rows))
        flat = list(itertools.chain.from_iterable(rows))
        if pa.types.is_map(t):
            keys = from_pylist([k for k, _ in flat], t.key_type)
            items = from_pylist([v for _, v in flat], t.item_type)
            child = pa.StructArray.from_arrays([keys, items], fields=[t.key_field, t.item_field])
        else:
            child = from_pylist(flat, t.value_type)
        return [_offsets(lengths, pa.types.is_large_list(t))], [child]
    if pa.types.is_struct(t):
        return [], [
            from_pylist([None if v is None else v.get(f.name) for v in values], f.type) for f in t
        ]
    raise TypeError(f"no Python-value conversion to {t}")


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else memoryview(value).tobytes()


def _variable(encoded: list[bytes], t: pa.DataType) -> list[pa.Buffer]:
    """Offsets and data buffers of strings or binary values."""
    large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    return [_offsets(lengths, large), pa.py_buffer(b"".join(encoded))]


def take(
    data: pa.Array | pa.ChunkedArray | pa.Table | pa.RecordBatch,
    indices: np.ndarray | Sequence[int],
) -> Any:
    """`data[indices]` for numpy indices (pyarrow's take, given an Arrow index array: a numpy
    one would go through the pandas bridge)."""
    if isinstance(data, pa.ChunkedArray):
        data = contiguous(data)
    index = np.asarray(indices, np.int64)
    if len(index) == 0:
        return data.slice(0, 0)
    if index[-1] - index[0] == len(index) - 1 and bool((np.diff(index) == 1).all()):
        return data.slice(int(index[0]), len(index))  # a run: no copy, no compute kernel
    return data.take(from_numpy(index))


def distinct(values: np.ndarray | Sequence[Any]) -> np.ndarray:
    """The sorted distinct values of a 1-D array: `np.unique` without its first call's import
    of numpy.ma (~10 ms, paid by every short-lived process that plans a read)."""
    flat = np.sort(np.asarray(values).ravel())
    if len(flat) < 2:
        return flat
    return flat[np.concatenate(([True], flat[1:] != flat[:-1]))]


__all__ = [
    "distinct",
    "from_numpy",
    "from_pylist",
    "struct",
    "take",
    "to_numpy",
    "valid",
]
