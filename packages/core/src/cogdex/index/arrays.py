"""Arrow <-> numpy without pyarrow's pandas bridge.

pyarrow's `to_numpy()` and `pa.array(...)` run through its pandas-compatible converter, which
imports pandas when it is installed (~0.3 s in a data-science environment, paid by every
short-lived job that loads an index). Fixed-width arrays are plain buffers, so these helpers
read and build them with `buffers()` / `from_buffers()`; other types use `to_pylist()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_NUMPY = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32,
    pa.uint64(): np.uint64, pa.float16(): np.float16, pa.float32(): np.float32,
    pa.float64(): np.float64,
}  # fmt: skip
_ARROW = {np.dtype(v): k for k, v in _NUMPY.items()}


def _contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _fixed(t: pa.DataType) -> bool:
    return (
        t in _NUMPY
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
        or (pa.types.is_date32(t))
    )


def _values(array: pa.Array) -> np.ndarray:
    """The value buffer of a fixed-width array as numpy (a view; nulls hold junk)."""
    t = array.type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        dtype = np.dtype(f"{'M' if pa.types.is_timestamp(t) else 'm'}8[{t.unit}]")
    elif pa.types.is_date32(t):
        return np.frombuffer(array.buffers()[1], np.int32, len(array), array.offset * 4).astype(
            "datetime64[D]"
        )
    elif t in _NUMPY:
        dtype = np.dtype(_NUMPY[t])
    else:
        raise TypeError(f"not a fixed-width numeric type: {t}")
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)


def valid(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Boolean numpy mask of the non-null entries."""
    array = _contiguous(array)
    bitmap = array.buffers()[0]
    if bitmap is None or array.null_count == 0:
        return np.ones(len(array), bool)
    bits = np.unpackbits(np.frombuffer(bitmap, np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)].astype(bool)


def to_numpy(array: pa.Array | pa.ChunkedArray, fill: Any = None) -> np.ndarray:
    """numpy values of an Arrow array: fixed-width types from their buffers (nulls become
    `fill`, which must then be given), booleans unpacked, anything else as an object array
    of Python values."""
    array = _contiguous(array)
    t = array.type
    if pa.types.is_boolean(t):
        bits = np.unpackbits(np.frombuffer(array.buffers()[1], np.uint8), bitorder="little")
        out = bits[array.offset : array.offset + len(array)].astype(bool)
    elif (
        t in _NUMPY or pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date32(t)
    ):
        out = _values(array)
    else:
        out = np.empty(len(array), dtype=object)
        out[:] = array.to_pylist()
        return out
    if array.null_count:
        if fill is None:
            raise ValueError(f"{array.null_count} nulls in a {t} array and no fill value")
        out = np.where(valid(array), out, fill)
    return out


def from_numpy(values: np.ndarray | Sequence[Any], type: pa.DataType | None = None) -> pa.Array:
    """An Arrow array of numeric numpy values (no nulls), by buffer."""
    data = np.ascontiguousarray(values)
    arrow_type = type or _ARROW.get(data.dtype)
    if arrow_type is None:
        raise TypeError(f"no buffer conversion for {data.dtype}")
    data = data.astype(_NUMPY[arrow_type], copy=False)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def strings(values: Sequence[str]) -> pa.Array:
    """A string array (no nulls), by buffer."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def take(array: pa.Array | pa.ChunkedArray, indices: np.ndarray) -> pa.Array:
    """`array[indices]` for numpy indices (pyarrow's take, pandas-free)."""
    return _contiguous(array).take(from_numpy(np.asarray(indices, np.int64)))
