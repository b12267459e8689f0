"""Bytes -> IFDs: the TIFF file header, directory entries and tag values (no I/O).

The bytes come from a `ByteView`, the parts of one file fetched so far. Reading a part that
is not there raises `Missing`, which the fetch loop (`header.py`) turns into the next range
request; reading past the end of the file raises `TruncatedTIFF`. Every count is checked
against the file size before anything is allocated, so bad headers cost no memory.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from cogdex.errors import MalformedTIFF, TruncatedTIFF
from cogdex.tiff import tags as T
from cogdex.tiff.model import ByteOrder

IntOrder = Literal["little", "big"]  # a `ByteOrder` as int.from_bytes spells it


class Missing(Exception):
    """Bytes [start, end) of the file are needed but not fetched yet."""

    def __init__(self, start: int, end: int):
        super().__init__(start, end)
        self.start = start
        self.end = end


class ByteView:
    """The known byte spans of one file of `size` bytes (sorted, disjoint).

    Spans are never merged by copying: `add` keeps only the bytes not known yet, and `get`
    joins the pieces of a range that spans several. (Merging copied every span a new one
    touched: a chain of IFDs each just past the last fetch grew one span by copying it
    once per IFD, quadratic in the file size.)
    """

    def __init__(self, source: str, size: int, data: bytes | memoryview = b"", start: int = 0):
        self.source = source
        self.size = size
        self._starts: list[int] = []
        self._spans: list[bytes] = []
        if data:
            self.add(start, data)

    def add(self, start: int, data: bytes | memoryview) -> None:
        """Record `data` found at `start` (its bytes already known are ignored; the new ones
        are copied, so a view into a larger fetch buffer does not keep that buffer alive)."""
        end = start + len(data)
        first = bisect.bisect_right(self._starts, start) - 1
        if first < 0 or self._starts[first] + len(self._spans[first]) <= start:
            first += 1  # no span holds `start`: the new spans go before `first`
        starts: list[int] = []
        spans: list[bytes] = []
        pos = start
        k = first
        while pos < end:
            if k < len(self._starts) and self._starts[k] <= pos:
                starts.append(self._starts[k])
                spans.append(self._spans[k])
                pos = self._starts[k] + len(self._spans[k])
                k += 1
                continue
            stop = min(end, self._starts[k]) if k < len(self._starts) else end
            starts.append(pos)
            spans.append(bytes(data[pos - start : stop - start]))
            pos = stop
        self._starts[first:k] = starts
        self._spans[first:k] = spans

    def _covered(self, start: int, end: int) -> tuple[int, int]:
        """(index of the span holding `start`, first byte from `start` on not known)."""
        i = bisect.bisect_right(self._starts, start) - 1
        if i < 0 or self._starts[i] + len(self._spans[i]) <= start:
            return i, start
        pos = self._starts[i] + len(self._spans[i])
        k = i + 1
        while pos < end and k < len(self._starts) and self._starts[k] == pos:
            pos += len(self._spans[k])
            k += 1
        return i, pos

    def has(self, start: int, length: int) -> bool:
        """Whether bytes [start, start + length) are known."""
        return self._covered(start, start + length)[1] >= start + length

    def get(self, start: int, length: int) -> memoryview:
        """Bytes [start, start + length); `Missing` if not fetched, `TruncatedTIFF` past EOF."""
        end = start + length
        if start < 0 or length < 0 or end > self.size:
            raise TruncatedTIFF(
                f"{length} bytes needed at offset {start}, past the end of the "
                f"{self.size}-byte file",
                source=self.source,
                offset=start,
            )
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0:
            s = self._starts[i]
            span = self._spans[i]
            if end <= s + len(span):
                return memoryview(span)[start - s : end - s]
        i, known = self._covered(start, end)
        if known < end:
            raise Missing(known, end)
        pieces = []
        pos = start
        while pos < end:
            s, span = self._starts[i], self._spans[i]
            pieces.append(span[pos - s : min(end, s + len(span)) - s])
            pos = s + len(span)
            i += 1
        return memoryview(b"".join(pieces))


@dataclass(frozen=True, slots=True)
class Layout:
    """What the 8- or 16-byte file header says: byte order, classic or BigTIFF, first IFD."""

    byte_order: ByteOrder
    bigtiff: bool
    first_ifd: int

    @property
    def offset_size(self) -> int:
        return 8 if self.bigtiff else 4


def read_layout(view: ByteView) -> Layout:
    """Parse the file header."""
    src = view.source
    if view.size < 8:
        raise TruncatedTIFF(f"not a TIFF: only {view.size} bytes", source=src, offset=0)
    head = bytes(view.get(0, 8))
    bo: ByteOrder
    if head[:2] == b"II":
        bo = "<"
    elif head[:2] == b"MM":
        bo = ">"
    else:
        raise MalformedTIFF(f"not a TIFF: byte-order mark {head[:2]!r}", source=src, offset=0)
    order: IntOrder = "little" if bo == "<" else "big"
    version = int.from_bytes(head[2:4], order)
    if version == 42:
        return Layout(bo, False, int.from_bytes(head[4:8], order))
    if version == 43:
        ext = bytes(view.get(4, 12))
        if int.from_bytes(ext[0:2], order) != 8 or int.from_bytes(ext[2:4], order) != 0:
            raise MalformedTIFF("BigTIFF header with a bad offset size", source=src, offset=4)
        return Layout(bo, True, int.from_bytes(ext[4:12], order))
    raise MalformedTIFF(f"not a TIFF: version {version}", source=src, offset=2)


class Entry(NamedTuple):
    """One directory entry: where its `n_values` values (TIFF's Count) of field `type` lie.

    `inline` is the value of a one-value integer entry stored in the entry itself, else None.
    (A named tuple: headers hold a few hundred of these and build them in microseconds; the
    field is not called `count`, which would shadow `tuple.count`.)
    """

    tag: int
    type: int
    n_values: int
    pos: int
    inline: int | None = None

    @property
    def nbytes(self) -> int:
        return self.n_values * T.FIELD_TYPES[self.type][0]


@dataclass(frozen=True, slots=True)
class IFD:
    """An image file directory: the entries cogdex reads, and the offset of the next IFD."""

    offset: int
    entries: dict[int, Entry]
    next_offset: int


_INT_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
_INT_STRUCTS = {(bo, t): struct.Struct(bo + c) for bo in "<>" for t, c in _INT_FORMATS.items()}
_UNSIGNED_CLASSIC = frozenset({1, 3, 4, 13})  # BYTE, SHORT, LONG, IFD: fit the 4-byte field
_UNSIGNED_BIG = frozenset({1, 3, 4, 13, 16, 18})  # + LONG8, IFD8 in BigTIFF's 8-byte field
_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}
_ENTRY_FORMATS = {
    (bo, big): bo + ("HHQQ" if big else "HHII") for bo in "<>" for big in (False, True)
}


def read_ifd(view: ByteView, layout: Layout, offset: int, wanted: frozenset[int]) -> IFD:
    """Parse the IFD at `offset`, keeping the entries whose tag is in `wanted`."""
    src = view.source
    big = layout.bigtiff
    order: IntOrder = "little" if layout.byte_order == "<" else "big"
    count_size = 8 if big else 2
    entry_size = 20 if big else 12
    if offset < 8:
        raise MalformedTIFF(
            f"IFD offset {offset} lies in the file header", source=src, offset=offset
        )
    n = int.from_bytes(view.get(offset, count_size), order)
    if n == 0:
        raise MalformedTIFF("IFD with no entries", source=src, offset=offset)
    body = n * entry_size + layout.offset_size
    if offset + count_size + body > view.size:
        raise TruncatedTIFF(
            f"IFD of {n} entries runs past the end of the file", source=src, offset=offset
        )
    raw = view.get(offset + count_size, body)
    next_offset = int.from_bytes(raw[n * entry_size :], order)
    first = offset + count_size
    inline = 8 if big else 4
    value_at = 12 if big else 8
    entries: dict[int, Entry] = {}
    fmt = _ENTRY_FORMATS[layout.byte_order, big]
    little = layout.byte_order == "<"
    unsigned = _UNSIGNED_BIG if big else _UNSIGNED_CLASSIC
    for i, (tag, ftype, count, value) in enumerate(struct.iter_unpack(fmt, raw[: n * entry_size])):
        if tag not in wanted or tag in entries:  # libtiff keeps the first of duplicated tags
            continue
        where = first + i * entry_size
        field = T.FIELD_TYPES.get(ftype)
        if field is None:
            raise MalformedTIFF(
                f"tag {tag} has unknown field type {ftype}", source=src, offset=where
            )
        nbytes = count * field[0]
        pos = where + value_at if nbytes <= inline else value
        if pos + nbytes > view.size:
            raise TruncatedTIFF(
                f"tag {tag}: {count} values at offset {pos} run past the end of the file",
                source=src,
                offset=where,
            )
        scalar = None
        if count == 1 and ftype in unsigned:
            # The value field, read as an unsigned int, holds the value in its first bytes.
            scalar = value & _MASKS[nbytes] if little else value >> 8 * (inline - nbytes)
        elif count == 1 and nbytes <= inline and ftype in _INT_FORMATS:
            scalar = _INT_STRUCTS[layout.byte_order, ftype].unpack_from(raw, pos - first)[0]
        entries[tag] = Entry(tag, ftype, count, pos, scalar)
    return IFD(offset, entries, next_offset)


def values(view: ByteView, layout: Layout, entry: Entry) -> np.ndarray:
    """The entry's values as a 1-D numpy array in native byte order (rationals as float64)."""
    size, code = T.FIELD_TYPES[entry.type]
    raw = view.get(entry.pos, entry.n_values * size)
    if entry.type in (T.RATIONAL, T.SRATIONAL):
        pairs = np.frombuffer(raw, layout.byte_order + code, count=2 * entry.n_values)
        num = pairs[0::2].astype(np.float64)
        den = pairs[1::2].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / den
    arr = np.frombuffer(raw, layout.byte_order + code, count=entry.n_values)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def integers(view: ByteView, layout: Layout, entry: Entry, name: str) -> np.ndarray:
    """An integer tag's values as uint64/int64; other field types are a malformed file."""
    if entry.type in (T.ASCII, T.RATIONAL, T.SRATIONAL, 11, 12):
        raise MalformedTIFF(
            f"{name} has field type {entry.type}, not an integer type",
            source=view.source,
            offset=entry.pos,
        )
    return values(view, layout, entry)


def first_integer(view: ByteView, layout: Layout, entry: Entry, name: str) -> int:
    """The first value of an integer tag (the common one-value case, without numpy)."""
    if entry.inline is not None:
        return entry.inline
    code = _INT_FORMATS.get(entry.type)
    if code is None or entry.n_values == 0:
        raise MalformedTIFF(
            f"{name} has field type {entry.type} and {entry.n_values} values, not an integer",
            source=view.source,
            offset=entry.pos,
        )
    size = T.FIELD_TYPES[entry.type][0]
    return struct.unpack(layout.byte_order + code, view.get(entry.pos, size))[0]


def small_integers(view: ByteView, layout: Layout, entry: Entry, name: str) -> tuple[int, ...]:
    """An integer tag's values as a tuple (for short lists such as BitsPerSample)."""
    if entry.inline is not None:
        return (entry.inline,)
    code = _INT_FORMATS.get(entry.type)
    if code is None:
        raise MalformedTIFF(
            f"{name} has field type {entry.type}, not an integer type",
            source=view.source,
            offset=entry.pos,
        )
    if entry.n_values > 64:
        return tuple(values(view, layout, entry).tolist())
    fmt = f"{layout.byte_order}{entry.n_values}{code}"
    return struct.unpack(fmt, view.get(entry.pos, entry.nbytes))


def raw(view: ByteView, entry: Entry) -> bytes:
    """An entry's value bytes as stored."""
    return bytes(view.get(entry.pos, entry.nbytes))


def text(view: ByteView, entry: Entry) -> str:
    """An ASCII (or BYTE/UNDEFINED) entry as text, up to its first NUL."""
    return raw(view, entry).split(b"\0", 1)[0].decode("utf-8", errors="replace")


__all__ = [
    "IFD",
    "ByteView",
    "Entry",
    "Layout",
    "Missing",
    "first_integer",
    "integers",
    "raw",
    "read_ifd",
    "read_layout",
    "small_integers",
    "text",
    "values",
]
