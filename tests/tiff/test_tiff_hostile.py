"""Hostile headers: counts, sizes and band numbers that no file of that size could hold.

Each file is a few hundred bytes whose header claims more (2**48 bands after a 2-byte type
change, 65535 float64 bands, a 2**32 x 2**32 image, strip arrays that overflow 64 bits; and
a JPEG tile whose frame claims gigabytes). Opening and reading one must raise a
`TIFFError` naming the file, fast and without allocating what the file claims; an index
build must skip it. Every case runs in a child process with a 2 GiB address-space cap and
a deadline (`fuzzing.isolated`), so a regression fails the test instead of exhausting the
machine.
"""

from __future__ import annotations

import signal
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from cogdex.tiff import tags as T
from cogdex.tiff.header import IFD_READ, parse_header
from tests.tiff.fuzzing import Hang, guarded, isolated

_CODES = {T.ASCII: "s", 3: "H", 4: "I", 16: "Q", 17: "q"}
_SIZES = {T.ASCII: 1, 3: 2, 4: 4, 16: 8, 17: 8}

Entry = tuple[int, int, list[int] | bytes]
"""(tag, field type, values): ASCII values are bytes."""


def tiff(entries: list[Entry], data: bytes, *, big: bool = False, order: str = "<") -> bytes:
    """One IFD after the file header and `data` (so `data` starts at byte 8, or 16 for
    BigTIFF), out-of-line values after the IFD."""
    word, count_code, entry_size = ("Q", "Q", 20) if big else ("I", "H", 12)
    width = struct.calcsize(word)
    start = 16 if big else 8
    ifd_at = start + len(data) + len(data) % 2
    after = ifd_at + struct.calcsize(count_code) + len(entries) * entry_size + width
    ifd = bytearray(struct.pack(order + count_code, len(entries)))
    values = bytearray()
    for tag, ftype, vals in sorted(entries, key=lambda e: e[0]):
        raw = (
            vals
            if isinstance(vals, bytes)
            else struct.pack(f"{order}{len(vals)}{_CODES[ftype]}", *vals)
        )
        if len(raw) <= width:
            field = raw.ljust(width, b"\0")
        else:
            field = struct.pack(order + word, after + len(values))
            values += raw + b"\0" * (len(raw) % 2)
        ifd += struct.pack(order + "HH" + word, tag, ftype, len(raw) // _SIZES[ftype]) + field
    ifd += bytes(width)
    mark = b"II" if order == "<" else b"MM"
    head = (
        struct.pack(order + "HHHQ", 43, 8, 0, ifd_at)
        if big
        else struct.pack(order + "HI", 42, ifd_at)
    )
    return mark + head + data + bytes(len(data) % 2) + ifd + values


def strip_tiff(
    width: int, height: int, data: bytes, *, big: bool = False, order: str = "<", **tags: Entry
) -> bytes:
    """A one-strip image of 8-bit samples, deflated unless `data` is `width * height`
    bytes; `tags` replace or add entries (keyed by any name)."""
    offset_type = 16 if big else 4
    base: dict[int, tuple[int, list[int] | bytes]] = {
        T.IMAGE_WIDTH: (4, [width]),
        T.IMAGE_LENGTH: (4, [height]),
        T.BITS_PER_SAMPLE: (3, [8]),
        T.COMPRESSION: (3, [T.NONE if len(data) == width * height else T.ADOBE_DEFLATE]),
        T.PHOTOMETRIC: (3, [T.PHOTOMETRIC_MINISBLACK]),
        T.STRIP_OFFSETS: (offset_type, [16 if big else 8]),
        T.SAMPLES_PER_PIXEL: (3, [1]),
        T.ROWS_PER_STRIP: (4, [height]),
        T.STRIP_BYTE_COUNTS: (offset_type, [len(data)]),
    }
    for tag, ftype, values in tags.values():
        base[tag] = (ftype, values)
    return tiff([(t, f, v) for t, (f, v) in base.items()], data, big=big, order=order)


def _retype(data: bytes, tag: int, ftype: int, *, big: bool, order: str) -> bytes:
    """`data` with the field type of IFD0's entry for `tag` changed (a 2-byte edit)."""
    out = bytearray(data)
    first = struct.unpack_from(order + ("Q" if big else "I"), out, 8 if big else 4)[0]
    n = struct.unpack_from(order + ("Q" if big else "H"), out, first)[0]
    for i in range(n):
        at = first + (8 if big else 2) + i * (20 if big else 12)
        if struct.unpack_from(order + "H", out, at)[0] == tag:
            struct.pack_into(order + "H", out, at + 2, ftype)
            return bytes(out)
    raise AssertionError(f"no tag {tag}")


_DESCRIPTION = (
    b'<GDALMetadata><Item name="DESCRIPTION" sample="0" role="description">red</Item>'
    b"</GDALMetadata>\0"
)
_TILE = zlib.compress(bytes(64 * 64))


def _bands_2_48(with_metadata: bool) -> bytes:
    """BigTIFF, big-endian: SamplesPerPixel 1 as a SHORT retyped LONG8 reads 1 << 48."""
    extra = {"meta": (T.GDAL_METADATA, T.ASCII, _DESCRIPTION)} if with_metadata else {}
    data = strip_tiff(64, 64, _TILE, big=True, order=">", **extra)
    return _retype(data, T.SAMPLES_PER_PIXEL, 16, big=True, order=">")


def _jpeg_claiming(cols: int, rows: int) -> bytes:
    """A 64 x 64 JPEG strip whose frame header claims `cols` x `rows` pixels (corrupt tile
    data makes libjpeg allocate what the frame claims)."""
    stream = bytearray(imagecodecs.jpeg8_encode(np.zeros((64, 64), np.uint8)))
    sof = stream.index(b"\xff\xc0")
    struct.pack_into(">HH", stream, sof + 5, rows, cols)
    return strip_tiff(64, 64, bytes(stream), comp=(T.COMPRESSION, 3, [T.JPEG]))


def _lerc_claiming(depth: int) -> bytes:
    """A 64 x 64 int16 LERC strip whose Lerc2 header claims `depth` values per pixel (the
    LERC library allocates rows x columns x depth as declared; the fuzz run found it)."""
    values = np.random.default_rng(1).integers(0, 1000, (64, 64), dtype=np.int16)
    blob = bytearray(imagecodecs.lerc_encode(values))
    assert blob[:6] == b"Lerc2 " and int.from_bytes(blob[6:10], "little") >= 4
    # after version, checksum, rows and columns: the depth, and no valid pixel (so the
    # library allocates the declared array without reading any data, as in the fuzz find)
    struct.pack_into("<ii", blob, 22, depth, 0)
    return strip_tiff(
        64,
        64,
        bytes(blob),
        comp=(T.COMPRESSION, 3, [T.LERC]),
        bits=(T.BITS_PER_SAMPLE, 3, [16]),
        fmt=(T.SAMPLE_FORMAT, 3, [T.SAMPLE_INT]),
    )


CASES: dict[str, tuple[bytes, str]] = {
    "2**48 bands and band descriptions": (_bands_2_48(True), "MalformedTIFF"),
    "2**48 bands": (_bands_2_48(False), "MalformedTIFF"),
    "65535 float64 bands in 160 bytes": (
        strip_tiff(
            64,
            64,
            _TILE,
            spp=(T.SAMPLES_PER_PIXEL, 3, [65535]),
            bits=(T.BITS_PER_SAMPLE, 3, [64]),
            fmt=(T.SAMPLE_FORMAT, 3, [T.SAMPLE_FLOAT]),
        ),
        "MalformedTIFF",
    ),
    "2**40 x 2**40 pixels": (
        strip_tiff(
            64,
            64,
            _TILE,
            big=True,
            w=(T.IMAGE_WIDTH, 16, [2**40]),
            h=(T.IMAGE_LENGTH, 16, [2**40]),
        ),
        "MalformedTIFF",
    ),
    "one 4 GiB x 4 GiB strip in 120 bytes": (
        strip_tiff(2**32 - 1, 2**32 - 1, _TILE[:10]),
        "UnsupportedTIFF",
    ),
    "a strip byte count past 2**63 (strip chopping)": (
        strip_tiff(64, 1024, bytes(64 * 1024), big=True, n=(T.STRIP_BYTE_COUNTS, 16, [2**63 + 5])),
        "ok",  # chopped as libtiff does, the byte count cut at the last strip
    ),
    "a negative strip offset (strip chopping)": (
        strip_tiff(64, 1024, bytes(64 * 1024), big=True, n=(T.STRIP_OFFSETS, 17, [-5])),
        "MalformedTIFF",
    ),
    "a JPEG tile whose frame claims 52010 x 34157 pixels": (
        _jpeg_claiming(52010, 34157),
        "DecodeError",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_header_is_a_typed_error(case: str, tmp_path: Path) -> None:
    data, expected = CASES[case]
    path = tmp_path / "hostile.tif"
    path.write_bytes(data)
    assert isolated(path, "check") == expected


@pytest.mark.parametrize(
    "case", ["2**48 bands and band descriptions", "a negative strip offset (strip chopping)"]
)
def test_index_build_skips_hostile_headers(case: str, tmp_path: Path) -> None:
    """A build over a good file and a hostile one indexes the good one and keeps the
    hostile one's error as its skip reason."""
    path = tmp_path / "hostile.tif"
    path.write_bytes(CASES[case][0])
    assert isolated(path, "build") == CASES[case][1]


def _spin() -> None:
    while True:
        pass


def test_the_guard_stops_hangs_and_allocations() -> None:
    with pytest.raises(Hang), guarded(seconds=0.2):
        _spin()
    with pytest.raises(MemoryError), guarded(memory=64 << 20):
        np.ones(1 << 30, np.uint8)


def _write_levels(path: Path, overviews: int, masks: int, spacing: int = 126) -> Path:
    """A 60000 x 1 image with `overviews` overview IFDs (1, 2, ... pixels wide) and `masks`
    mask IFDs of sizes no level has, all sharing one strip: 126-byte IFDs `spacing` bytes
    apart (written sparsely, so wide spacings cost no disk)."""
    levels = [(0, 60_000)] + [(T.SUBFILE_REDUCED, 1 + i) for i in range(overviews)]
    levels += [(T.SUBFILE_MASK, 30_001 + i) for i in range(masks)]
    with path.open("wb") as f:
        f.write(b"II" + struct.pack("<HI", 42, 8))
        for k, (subfile, width) in enumerate(levels):
            mask = subfile == T.SUBFILE_MASK
            entries = [
                (T.NEW_SUBFILE_TYPE, 4, subfile),
                (T.IMAGE_WIDTH, 4, width),
                (T.IMAGE_LENGTH, 4, 1),
                (T.BITS_PER_SAMPLE, 3, 8),
                (T.COMPRESSION, 3, T.NONE),
                (T.PHOTOMETRIC, 3, T.PHOTOMETRIC_MASK if mask else T.PHOTOMETRIC_MINISBLACK),
                (T.STRIP_OFFSETS, 4, 8),
                (T.SAMPLES_PER_PIXEL, 3, 1),
                (T.ROWS_PER_STRIP, 4, 1),
                (T.STRIP_BYTE_COUNTS, 4, width),
            ]
            f.seek(8 + k * spacing)
            f.write(struct.pack("<H", len(entries)))
            f.write(b"".join(struct.pack("<HHII", tag, ftype, 1, v) for tag, ftype, v in entries))
            f.write(struct.pack("<I", 8 + (k + 1) * spacing if k + 1 < len(levels) else 0))
        f.write(bytes(60_000))
    return path


def test_many_levels_and_masks_parse_in_linear_time(tmp_path: Path) -> None:
    """Matching masks to levels was quadratic: 32768 overview and mask IFDs (8 MB) took
    minutes. 16000 of each now parse in about 2 s."""
    path = _write_levels(tmp_path / "levels.tif", 16_000, 16_000)
    assert isolated(path, "parse", seconds=15) == "ok"


@pytest.mark.parametrize("spacing", [IFD_READ + 4096, IFD_READ])
def test_ifds_far_apart_are_fetched_in_linear_time(spacing: int, tmp_path: Path) -> None:
    """A chain of IFDs farther apart than one fetch takes a round of requests per IFD.
    Each round walked every IFD so far (6000 IFDs: 24 s to open), and when each fetch
    ended where the next began, merging the known bytes copied them all again (1000
    IFDs: 13 s). Both are linear now: 6000 IFDs open in about 2 s."""
    path = _write_levels(tmp_path / "far.tif", 6000, 0, spacing=spacing)
    assert isolated(path, "open", seconds=20) == "ok"


def test_a_large_single_uncompressed_strip_is_still_chopped() -> None:
    """The 2 GiB block limit applies after libtiff's strip chopping: a true 2.5 GB strip
    (its header parsed from the prefix of a 2.5 GB object) reads as ~8 KiB strips."""
    side = 50_000
    prefix = strip_tiff(
        side,
        side,
        b"",
        comp=(T.COMPRESSION, 3, [T.NONE]),
        n=(T.STRIP_BYTE_COUNTS, 4, [side * side]),
    )
    header = parse_header(prefix, size=8 + side * side)
    assert (header.base.tile_height, header.base.tile_offsets.size) == (1, side)


def test_the_guard_gives_an_outer_alarm_its_time_back() -> None:
    """pytest-timeout arms SIGALRM too: a guarded case must not disarm it."""
    delay, interval = signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        with guarded(seconds=5):
            pass
        assert 99 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, delay, interval)


def test_a_lerc_blob_claiming_more_values_than_its_tile_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    """The fuzz run's find: a Lerc2 header declaring 65537 values per pixel (512 MiB for
    this 64 x 64 tile, GiBs for larger ones) is refused from the header, not allocated."""
    import cogdex

    path = tmp_path / "lerc.tif"
    path.write_bytes(_lerc_claiming(65537))
    with pytest.raises(cogdex.DecodeError, match=r"LERC blob of 64x64x65537 values"):
        cogdex.open(path).read()
