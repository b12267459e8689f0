"""Mutated real TIFFs and the property every one of them must satisfy (tests and script).

Seeds are small GeoTIFFs written by GDAL (rasterio) across layouts. A mutation is a list of
edits, each small enough to minimise a failure by dropping edits: raw writes of a byte or a
word anywhere in the header region (file header, IFDs, tag arrays: everything before the
first tile) or in tile data, and structural edits of one directory entry (its field type,
its count, its value or offset) or of an IFD's next-IFD pointer (to another IFD: a loop,
or to a boundary value), plus an optional truncation. The property: opening and reading a
few windows of every level and mask either works or raises a `cogdex.TIFFError` subclass
that names the file; nothing else escapes, nothing hangs (`CASE_SECONDS`), no allocation
fails under the address-space budget (`CASE_MEMORY`), and parsing allocates no more than a
small multiple of the file size.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cogdex.errors import TIFFError
from cogdex.read.geotiff import GeoTIFF
from cogdex.read.tilecache import tile_cache
from cogdex.tiff import tags as T
from cogdex.tiff.header import parse_header

# Values that break arithmetic and bounds checks when written over a count or an offset.
BOUNDARY = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63)

RAW_KINDS = (0, 1, 2, 3)
"""Edit kinds that write a byte, a 16-, 32- or 64-bit word (little-endian) at a position."""
FIELD_TYPE, COUNT, VALUE, NEXT_IFD = 4, 5, 6, 7
"""Edit kinds that rewrite one field of the n-th directory entry, or the n-th IFD's link."""
KINDS = (*RAW_KINDS, FIELD_TYPE, COUNT, VALUE, NEXT_IFD)

CASE_SECONDS = 10.0
"""A case that takes longer hangs (the slowest seed case takes well under a second)."""
CASE_MEMORY = 1 << 30
"""Address space a case may add: a seed case needs a few MiB, a lying header no more."""

Edit = tuple[int, int, int]
"""(kind, where, value): `where` is a file position (raw kinds) or an entry/IFD index."""


def write_seeds(folder: Path) -> list[Path]:
    """Small GeoTIFFs covering the layouts the parser branches on."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    base = {
        "driver": "GTiff",
        "width": 70,
        "height": 50,
        "transform": from_origin(500_000, 5_200_000, 10, 10),
        "crs": "EPSG:32633",
    }
    variants = {
        "tiled-deflate-ovr-mask.tif": dict(
            count=3, dtype="uint8", tiled=True, blockxsize=32, blockysize=32, compress="deflate"
        ),
        "strip-lzw-pred2-be.tif": dict(
            count=2, dtype="uint16", compress="lzw", predictor=2, endianness="big", blockysize=9
        ),
        "bigtiff-jpeg-ycbcr.tif": dict(
            count=3,
            dtype="uint8",
            tiled=True,
            blockxsize=32,
            blockysize=32,
            compress="jpeg",
            photometric="ycbcr",
            bigtiff="yes",
        ),
        "separate-float-pred3-nodata.tif": dict(
            count=2,
            dtype="float32",
            tiled=True,
            blockxsize=32,
            blockysize=32,
            compress="zstd",
            predictor=3,
            interleave="band",
            nodata=-9999.0,
            crs="+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +ellps=GRS80",
        ),
        "lerc-int16-tags.tif": dict(
            count=1, dtype="int16", tiled=True, blockxsize=32, blockysize=32, compress="lerc"
        ),
    }
    paths = []
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        for name, opts in variants.items():
            profile = {**base, **opts}
            path = folder / name
            count, dtype = profile["count"], np.dtype(profile["dtype"])
            data = (rng.normal(100, 40, (count, 50, 70))).clip(0, 250).astype(dtype)
            with rasterio.open(path, "w", **profile) as ds:
                ds.write(data)
                if name.startswith("tiled-deflate"):
                    mask = np.full((50, 70), 255, np.uint8)
                    mask[5:20, 10:40] = 0
                    ds.write_mask(mask)
                    ds.build_overviews([2], Resampling.nearest)
                if name.startswith("lerc"):
                    ds.set_band_description(1, "height")
                    ds.update_tags(1, STATISTICS_MEAN="1.5")
                    ds.scales = (0.25,)
            paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a seed's structures lie: byte order, word size, IFD offsets, the positions of
    their directory entries and of their next-IFD links."""

    order: str
    bigtiff: bool
    ifds: tuple[int, ...]
    entries: tuple[int, ...]
    links: tuple[int, ...]

    @property
    def word(self) -> str:
        """struct code of a count, offset or value field."""
        return "Q" if self.bigtiff else "I"


class Seed:
    """A seed file: its bytes, its structure, and where its header region ends (the first
    tile's offset)."""

    def __init__(self, path: Path, data: bytes, header_end: int, layout: Layout):
        self.path = path
        self.data = data
        self.header_end = header_end
        self.layout = layout

    def __repr__(self) -> str:
        return f"Seed({self.path.name})"


def load_seed(path: Path) -> Seed:
    data = path.read_bytes()
    header = parse_header(data)
    offsets = [lv.tile_offsets for lv in header.levels] + [
        lv.mask.tile_offsets for lv in header.levels if lv.mask is not None
    ]
    first_tile = int(min(int(o[o > 0].min()) for o in offsets if (o > 0).any()))
    return Seed(path, data, first_tile, _layout(data))


def _layout(data: bytes) -> Layout:
    """Walk a well-formed file's IFD chain (seeds only: no checks)."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(order + "H", data, 2)[0] == 43
    count, word, size = ("Q", "Q", 20) if big else ("H", "I", 12)
    ifds: list[int] = []
    entries: list[int] = []
    links: list[int] = []
    at = struct.unpack_from(order + word, data, 8 if big else 4)[0]
    while at:
        ifds.append(at)
        n = struct.unpack_from(order + count, data, at)[0]
        first = at + struct.calcsize(count)
        entries.extend(first + i * size for i in range(n))
        links.append(first + n * size)
        at = struct.unpack_from(order + word, data, links[-1])[0]
    return Layout(order, big, tuple(ifds), tuple(entries), tuple(links))


def mutate(seed: Seed, edits: list[Edit], truncate: int | None) -> bytes:
    """Apply the edits in order, then the truncation (see the module docstring). Raw kinds
    write `value` modulo the word at `where` modulo the file; structural kinds pick the
    entry or IFD `where` modulo their number and write in the file's byte order."""
    data = bytearray(seed.data)
    for kind, where, value in edits:
        if kind in RAW_KINDS:
            width = 1 << kind
            pos = where % max(len(data) - width, 1)
            data[pos : pos + width] = struct.pack("<Q", value % 2**64)[:width]
        else:
            _structural(data, seed.layout, kind, where, value)
    if truncate is not None:
        del data[truncate % (len(data) + 1) :]
    return bytes(data)


_FIELD_TYPES = tuple(T.FIELD_TYPES)


def _structural(data: bytearray, layout: Layout, kind: int, where: int, value: int) -> None:
    order, word = layout.order, layout.word
    width = struct.calcsize(word)
    if kind == NEXT_IFD:
        link = layout.links[where % len(layout.links)]
        # Even values point at an IFD of the chain (a loop when it is this one or earlier).
        target = layout.ifds[(value >> 1) % len(layout.ifds)] if value % 2 == 0 else value
        struct.pack_into(order + word, data, link, target % 2 ** (8 * width))
        return
    at = layout.entries[where % len(layout.entries)]
    if kind == FIELD_TYPE:
        # Mostly another valid type (a count now means other sizes), sometimes any value.
        ftype = _FIELD_TYPES[value % len(_FIELD_TYPES)] if value % 4 else value % 2**16
        struct.pack_into(order + "H", data, at + 2, ftype)
    else:
        field = at + 4 if kind == COUNT else at + 4 + width
        struct.pack_into(order + word, data, field, value % 2 ** (8 * width))


class Hang(Exception):
    """A case ran past its time limit."""


@contextlib.contextmanager
def guarded(seconds: float = CASE_SECONDS, memory: int = CASE_MEMORY) -> Iterator[None]:
    """Raise `Hang` after `seconds`, and make allocations that would grow the address space
    by more than `memory` bytes fail (MemoryError), so a failing case fails rather than
    taking the machine down. Main thread, Linux; both limits are lifted on exit, and an
    alarm set before (pytest-timeout's) is set again for the time it had left."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + memory
    capped = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (capped, hard))

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if outer:
            left = max(outer - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def outcome(data: bytes, scratch: Path) -> tuple[str, str]:
    """`check` under `guarded`: ("ok" or the TIFFError class, ""), or a finding and its
    traceback: "hang", "memory" (an allocation failed under the budget, raw or wrapped by
    cogdex) or "raw:<type>" (anything else that escaped, assertions of `check` included)."""
    try:
        with guarded():
            return check(data, scratch), ""
    except BaseException as exc:  # every escape is a finding, classified
        detail = "".join(traceback.format_exception(exc))
        if isinstance(exc, Hang):
            return "hang", detail
        if _out_of_memory(exc):
            return "memory", detail
        return f"raw:{type(exc).__name__}", detail


def is_finding(result: str) -> bool:
    return result in ("hang", "memory") or result.startswith("raw:")


def _out_of_memory(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def check(data: bytes, scratch: Path) -> str:
    """Open and read `data` as cogdex would; return what happened ("ok" or the error type).

    Raises AssertionError if anything but a TIFFError escapes, an error does not name the
    file, or parsing allocates more than the file could justify.
    """
    source = str(scratch)
    try:
        header = parse_header(data, source=source)
    except TIFFError as exc:
        _names_file(exc, source)
        if _out_of_memory(exc):
            raise
        return type(exc).__name__
    peak = _parse_peak(data, source)
    assert peak <= 64 * len(data) + (1 << 20), f"parse allocated {peak} bytes for {len(data)}"
    scratch.write_bytes(data)
    tile_cache().clear()  # cases share a path and tile offsets: each decodes its own tiles
    tif = GeoTIFF(scratch, header)
    assert len(tif.band_descriptions) == len(tif.scale_offset) == tif.count
    outcome = "ok"
    for overview in [None, *range(min(len(tif.overviews), 2))]:
        for window in ((0, 0, 24, 24), (40, 30, 40, 40)):
            try:
                tif.read(window=window, overview=overview)
                if tif.has_mask and (overview is None or tif.header.levels[overview + 1].mask):
                    tif.read_mask(window=window, overview=overview)
            except TIFFError as exc:
                _names_file(exc, source)
                if _out_of_memory(exc):
                    raise
                outcome = type(exc).__name__
    return outcome


def _parse_peak(data: bytes, source: str) -> int:
    """Peak Python/numpy allocation of parsing `data` (after a first parse has imported and
    cached what any header needs, so only what this input costs is counted)."""
    tracemalloc.start()
    try:
        parse_header(data, source=source)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _names_file(error: TIFFError, source: str) -> None:
    if error.source != source:
        raise AssertionError(f"{type(error).__name__} does not name {source}: {error}")


def isolated(path: Path, action: str, seconds: float = 60.0, memory: int = 2 << 30) -> str:
    """The outcome (see `outcome`) of `action` on the file at `path`, run in a child process
    whose address space is capped at `memory` bytes and which is killed after `seconds`:
    for reproducers that must not take the test process down with them. Actions: "check"
    (`check`), "parse" (`parse_header` only), "open" (`cogdex.open`), "build"
    (`build_from_stac` over a good file and this one: the class of the error it keeps as
    the skip reason)."""
    command = [sys.executable, "-m", "tests.tiff.fuzzing", action, str(path), str(memory)]
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=seconds, check=False
        )
    except subprocess.TimeoutExpired:
        return "hang"
    lines = done.stdout.split()
    return lines[-1] if done.returncode == 0 and lines else f"raw:exit {done.returncode}"


def _child(action: str, path: Path, memory: int) -> str:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        if action == "check":
            return check(path.read_bytes(), path.with_suffix(".case.tif"))
        if action == "parse":
            parse_header(path.read_bytes(), source=str(path))
            return "ok"
        if action == "open":
            import cogdex

            cogdex.open(path)
            return "ok"
        return _build_beside_a_good_file(path)
    except BaseException as exc:  # the finding is reported, not raised
        if _out_of_memory(exc):
            return "memory"
        return type(exc).__name__ if isinstance(exc, TIFFError) else f"raw:{type(exc).__name__}"


def _build_beside_a_good_file(path: Path) -> str:
    """`build_from_stac` over two items, a good COG and `path`: the class of the error the
    build records for `path`, or "raw:..." when the good item is not indexed."""
    import json

    import cogdex
    from cogdex.testing import write_cog

    folder = path.parent / "stac"
    folder.mkdir(exist_ok=True)
    good = write_cog(
        folder / "good.tif", np.ones((32, 32), np.uint8), 32633, (10, 0, 5e5, 0, -10, 5.2e6)
    )
    items = [
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": name,
            "geometry": {"type": "Point", "coordinates": [15.0, 47.0]},
            "bbox": [15.0, 47.0, 15.0, 47.0],
            "properties": {"datetime": "2024-01-01T00:00:00Z", "proj:epsg": 32633},
            "assets": {"data": {"href": str(href), "type": "image/tiff"}},
            "links": [],
        }
        for name, href in (("good", good), ("hostile", path))
    ]
    source = folder / "items.json"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    built = cogdex.build_from_stac(source, name="hostile", bands=["data"], cache_dir=folder)
    if list(built.ids) != ["good"]:
        return f"raw:indexed {list(built.ids)}"
    (skip,) = [s for s in built.skipped if s["href"] == path.as_uri()]
    return skip["reason"].split(":")[0]


if __name__ == "__main__":
    print(_child(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
