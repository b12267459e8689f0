"""Bytes -> IFDs: the TIFF file header, directory entries and tag values (no I/O).

The bytes come from a `ByteView`, the parts of one file fetched so far. Reading a part that
is not there raises `Missing`, which the fetch loop (`header.py`) turns into the next range
request; reading past the end of the file raises `TruncatedTIFF`. Every count is checked
against the file size before anything is allocated, so bad headers cost no memory.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

import numpy as np

from cogdex.errors import MalformedTIFF, TruncatedTIFF
from cogdex.tiff import tags as T


class Missing(Exception):
    """Bytes [start, end) of the file are needed but not fetched yet."""

    def __init__(self, start: int, end: int):
        super().__init__(start, end)
        self.start = start
        self.end = end


class ByteView:
    """The known byte spans of one file of `size` bytes (sorted, merged)."""

    def __init__(self, source: str, size: int, data: bytes = b"", start: int = 0):
        self.source = source
        self.size = size
        self._starts: list[int] = []
        self._spans: list[bytes] = []
        if data:
            self.add(start, data)

    def add(self, start: int, data: bytes) -> None:
        """Record `data` found at `start`, merging it with the spans it touches."""
        end = start + len(data)
        i = bisect.bisect_left(self._starts, start)
        if i > 0 and self._starts[i - 1] + len(self._spans[i - 1]) >= start:
            i -= 1
        j = i
        while j < len(self._starts) and self._starts[j] <= end:
            j += 1
        if i == j:
            self._starts.insert(i, start)
            self._spans.insert(i, bytes(data))
            return
        lo = min(start, self._starts[i])
        hi = max(end, self._starts[j - 1] + len(self._spans[j - 1]))
        buf = bytearray(hi - lo)
        for s, span in zip(self._starts[i:j], self._spans[i:j], strict=True):
            buf[s - lo : s - lo + len(span)] = span
        buf[start - lo : end - lo] = data
        self._starts[i:j] = [lo]
        self._spans[i:j] = [bytes(buf)]

    def has(self, start: int, length: int) -> bool:
        """Whether bytes [start, start + length) are known."""
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and start + length <= self._starts[i] + len(self._spans[i])

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
        raise Missing(start, end)


@dataclass(frozen=True, slots=True)
class Layout:
    """What the 8- or 16-byte file header says: byte order, classic or BigTIFF, first IFD."""

    byte_order: str  # "<" (II) or ">" (MM)
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
    if head[:2] == b"II":
        bo = "<"
    elif head[:2] == b"MM":
        bo = ">"
    else:
        raise MalformedTIFF(f"not a TIFF: byte-order mark {head[:2]!r}", source=src, offset=0)
    version = int.from_bytes(head[2:4], "little" if bo == "<" else "big")
    order = "little" if bo == "<" else "big"
    if version == 42:
        return Layout(bo, False, int.from_bytes(head[4:8], order))
    if version == 43:
        ext = bytes(view.get(4, 12))
        if int.from_bytes(ext[0:2], order) != 8 or int.from_bytes(ext[2:4], order) != 0:
            raise MalformedTIFF("BigTIFF header with a bad offset size", source=src, offset=4)
        return Layout(bo, True, int.from_bytes(ext[4:12], order))
    raise MalformedTIFF(f"not a TIFF: version {version}", source=src, offset=2)


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry: where its `count` values of field `type` lie in the file."""

    tag: int
    type: int
    count: int
    pos: int

    @property
    def nbytes(self) -> int:
        return self.count * T.FIELD_TYPES[self.type][0]


@dataclass(frozen=True, slots=True)
class IFD:
    """An image file directory: the entries cogdex reads, and the offset of the next IFD."""

    offset: int
    entries: dict[int, Entry]
    next_offset: int


_ENTRY_DTYPES: dict[tuple[str, bool], np.dtype] = {
    (bo, big): np.dtype(
        [
            ("tag", bo + "u2"),
            ("type", bo + "u2"),
            ("count", bo + ("u8" if big else "u4")),
            ("value", bo + ("u8" if big else "u4")),
        ]
    )
    for bo in "<>"
    for big in (False, True)
}


def read_ifd(view: ByteView, layout: Layout, offset: int, wanted: frozenset[int]) -> IFD:
    """Parse the IFD at `offset`, keeping the entries whose tag is in `wanted`."""
    src = view.source
    big = layout.bigtiff
    count_size = 8 if big else 2
    entry_size = 20 if big else 12
    if offset < 8 or (offset % 2 and offset + count_size > view.size):
        raise MalformedTIFF(f"IFD offset {offset} is invalid", source=src, offset=offset)
    n = int.from_bytes(
        view.get(offset, count_size), "little" if layout.byte_order == "<" else "big"
    )
    body = n * entry_size + layout.offset_size
    if n == 0:
        raise MalformedTIFF("IFD with no entries", source=src, offset=offset)
    if offset + count_size + body > view.size:
        raise TruncatedTIFF(
            f"IFD of {n} entries runs past the end of the file", source=src, offset=offset
        )
    raw = view.get(offset + count_size, body)
    table = np.frombuffer(raw, _ENTRY_DTYPES[layout.byte_order, big], count=n)
    next_offset = int.from_bytes(
        raw[n * entry_size :], "little" if layout.byte_order == "<" else "big"
    )
    first = offset + count_size
    inline = 8 if big else 4
    value_at = 12 if big else 8
    entries: dict[int, Entry] = {}
    keep = np.isin(table["tag"], _tag_array(wanted))
    for i in np.flatnonzero(keep).tolist():
        tag = int(table["tag"][i])
        if tag in entries:
            continue  # libtiff keeps the first of duplicated tags
        ftype = int(table["type"][i])
        count = int(table["count"][i])
        if ftype not in T.FIELD_TYPES:
            raise MalformedTIFF(
                f"tag {tag} has unknown field type {ftype}",
                source=src,
                offset=first + i * entry_size,
            )
        nbytes = count * T.FIELD_TYPES[ftype][0]
        pos = first + i * entry_size + value_at if nbytes <= inline else int(table["value"][i])
        if pos + nbytes > view.size:
            raise TruncatedTIFF(
                f"tag {tag}: {count} values at offset {pos} run past the end of the file",
                source=src,
                offset=first + i * entry_size,
            )
        entries[tag] = Entry(tag, ftype, count, pos)
    return IFD(offset, entries, next_offset)


@functools.cache
def _tag_array(wanted: frozenset[int]) -> np.ndarray:
    return np.array(sorted(wanted), dtype=np.uint16)


def values(view: ByteView, layout: Layout, entry: Entry) -> np.ndarray:
    """The entry's values as a 1-D numpy array in native byte order (rationals as float64)."""
    size, code = T.FIELD_TYPES[entry.type]
    raw = view.get(entry.pos, entry.count * size)
    if entry.type in (T.RATIONAL, T.SRATIONAL):
        pairs = np.frombuffer(raw, layout.byte_order + code, count=2 * entry.count)
        num = pairs[0::2].astype(np.float64)
        den = pairs[1::2].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / den
    arr = np.frombuffer(raw, layout.byte_order + code, count=entry.count)
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


def raw(view: ByteView, entry: Entry) -> bytes:
    """An entry's value bytes as stored."""
    return bytes(view.get(entry.pos, entry.nbytes))


def text(view: ByteView, entry: Entry) -> str:
    """An ASCII (or BYTE/UNDEFINED) entry as text, up to its first NUL."""
    return raw(view, entry).split(b"\0", 1)[0].decode("utf-8", errors="replace")
