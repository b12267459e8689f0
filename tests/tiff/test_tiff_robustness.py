"""Malformed input: typed errors with file and byte offset, never a crash or a hang.

Hand-made breakages first (each names the failure it provokes), then a hypothesis fuzz
over mutated real headers (`COGDEX_FUZZ_EXAMPLES`, default 2500 in all; the long run is
`scripts/fuzz_tiff.py`), each case under a deadline and an address-space budget
(`fuzzing.guarded`): a hang or a blow-up fails the case instead of the machine.
"""

from __future__ import annotations

import os
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cogdex
from cogdex.errors import DecodeError, MalformedTIFF, TIFFError, TruncatedTIFF, UnsupportedTIFF
from cogdex.tiff import tags as T
from cogdex.tiff.header import parse_header
from cogdex.tiff.ifd import ByteView, read_ifd, read_layout
from tests.tiff.fuzzing import (
    BOUNDARY,
    KINDS,
    RAW_KINDS,
    Edit,
    Seed,
    check,
    is_finding,
    load_seed,
    mutate,
    outcome,
    write_seeds,
)

EXAMPLES = int(os.environ.get("COGDEX_FUZZ_EXAMPLES", "2500"))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Seed]:
    return [load_seed(p) for p in write_seeds(tmp_path_factory.mktemp("seeds"))]


@pytest.fixture
def tiled(seeds: list[Seed]) -> Seed:
    return seeds[0]


def _entry_at(data: bytes, tag: int) -> int:
    """File offset of IFD0's entry for `tag` (classic little-endian TIFF)."""
    view = ByteView("x", len(data), data)
    layout = read_layout(view)
    first = layout.first_ifd
    n = struct.unpack_from("<H", data, first)[0]
    for i in range(n):
        at = first + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            return at
    entries = read_ifd(view, layout, first, frozenset({tag})).entries
    raise AssertionError(f"tag {tag} not in IFD0 ({entries})")


def _patch(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def _open_and_read(path: Path, read: bool) -> None:
    tif = cogdex.open(path)
    if read:
        tif.read()


def _raises(kind: type[TIFFError], data: bytes, tmp_path: Path, *, read: bool = False) -> TIFFError:
    path = tmp_path / "broken.tif"
    path.write_bytes(data)
    with pytest.raises(kind) as info:
        _open_and_read(path, read)
    error = info.value
    assert error.source is not None and str(path) in error.source
    assert error.offset is not None
    return error


def test_every_truncation_of_the_header_is_a_typed_error(tiled: Seed) -> None:
    for end in range(0, tiled.header_end, 7):
        with pytest.raises(TruncatedTIFF):
            parse_header(tiled.data[:end], source="cut.tif")


def test_not_a_tiff(tmp_path: Path) -> None:
    error = _raises(MalformedTIFF, b"GIF89a" + bytes(100), tmp_path)
    assert "not a TIFF" in str(error)


def test_ifd_loop(tiled: Seed, tmp_path: Path) -> None:
    first = struct.unpack_from("<I", tiled.data, 4)[0]
    n = struct.unpack_from("<H", tiled.data, first)[0]
    looped = _patch(tiled.data, first + 2 + 12 * n, "<I", first)
    error = _raises(MalformedTIFF, looped, tmp_path)
    assert "loop" in str(error) and error.offset == first


def test_next_ifd_past_the_end(tiled: Seed, tmp_path: Path) -> None:
    first = struct.unpack_from("<I", tiled.data, 4)[0]
    n = struct.unpack_from("<H", tiled.data, first)[0]
    _raises(TruncatedTIFF, _patch(tiled.data, first + 2 + 12 * n, "<I", 2**31), tmp_path)


def test_absurd_tile_count_allocates_nothing(tiled: Seed, tmp_path: Path) -> None:
    at = _entry_at(tiled.data, T.TILE_OFFSETS)
    error = _raises(TruncatedTIFF, _patch(tiled.data, at + 4, "<I", 0xFFFFFFFF), tmp_path)
    assert error.offset == at


def test_wrong_field_types(tiled: Seed, tmp_path: Path) -> None:
    at = _entry_at(tiled.data, T.IMAGE_WIDTH)
    error = _raises(MalformedTIFF, _patch(tiled.data, at + 2, "<H", T.ASCII), tmp_path)
    assert "ImageWidth" in str(error)
    error = _raises(MalformedTIFF, _patch(tiled.data, at + 2, "<H", 99), tmp_path)
    assert "field type 99" in str(error)


def test_zero_width(tiled: Seed, tmp_path: Path) -> None:
    at = _entry_at(tiled.data, T.IMAGE_WIDTH)
    _raises(MalformedTIFF, _patch(tiled.data, at + 8, "<I", 0), tmp_path)


def test_too_few_tile_offsets(tiled: Seed, tmp_path: Path) -> None:
    at = _entry_at(tiled.data, T.TILE_OFFSETS)
    error = _raises(MalformedTIFF, _patch(tiled.data, at + 4, "<I", 2), tmp_path)
    assert "tile offsets" in str(error)


def test_unsupported_features_are_named(seeds: list[Seed], tmp_path: Path) -> None:
    tiled = seeds[0]
    at = _entry_at(tiled.data, T.COMPRESSION)
    error = _raises(UnsupportedTIFF, _patch(tiled.data, at + 8, "<H", 34661), tmp_path)
    assert "compression JBIG (34661)" in str(error)
    floats = seeds[3]  # two float32 samples: BitsPerSample holds both values inline
    at = _entry_at(floats.data, T.BITS_PER_SAMPLE)
    error = _raises(UnsupportedTIFF, _patch(floats.data, at + 8, "<2H", 24, 24), tmp_path)
    assert "24-bit samples of SampleFormat 3" in str(error)
    at = _entry_at(floats.data, T.PREDICTOR)
    error = _raises(UnsupportedTIFF, _patch(floats.data, at + 8, "<H", 7), tmp_path)
    assert "predictor 7" in str(error)


def test_tile_past_the_end_of_the_file(tiled: Seed, tmp_path: Path) -> None:
    at = _entry_at(tiled.data, T.TILE_OFFSETS)
    arrays = struct.unpack_from("<I", tiled.data, at + 8)[0]
    broken = _patch(tiled.data, arrays, "<I", len(tiled.data) - 3)
    error = _raises(TruncatedTIFF, broken, tmp_path, read=True)
    assert "tile 0" in str(error)


def test_corrupt_tile_data_is_a_decode_error_naming_the_tile(tiled: Seed, tmp_path: Path) -> None:
    header = parse_header(tiled.data)
    tile = 1
    start = int(header.base.tile_offsets[tile])
    count = int(header.base.tile_byte_counts[tile])
    broken = bytearray(tiled.data)
    broken[start : start + count] = bytes(range(256)) * (count // 256) + bytes(count % 256)
    error = _raises(DecodeError, bytes(broken), tmp_path, read=True)
    assert "tile 1" in str(error) and error.offset == start


def test_seeds_read_cleanly(seeds: list[Seed], tmp_path: Path) -> None:
    for seed in seeds:
        assert check(seed.data, tmp_path / "seed.tif") == "ok", seed.path.name
        assert np.asarray(cogdex.open(seed.path).read()).size


_value = st.one_of(st.sampled_from(BOUNDARY), st.integers(0, 2**64 - 1))
_structural = st.tuples(st.sampled_from(KINDS[len(RAW_KINDS) :]), st.integers(0, 2**16), _value)


def _raw(lo: int, hi: int) -> st.SearchStrategy[Edit]:
    return st.tuples(st.sampled_from(RAW_KINDS), st.integers(lo, hi), _value)


def _holds(data: bytes, scratch: Path) -> None:
    """The fuzz property, each case under a deadline and an address-space budget."""
    result, detail = outcome(data, scratch)
    assert not is_finding(result), detail


_FUZZ = dict(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@settings(max_examples=max(EXAMPLES * 4 // 5, 1), **_FUZZ)
@given(data=st.data())
def test_fuzz_mutated_headers(data: st.DataObject, seeds: list[Seed], tmp_path: Path) -> None:
    """Raw writes in the header region, entry field types, counts, values and offsets, IFD
    links (loops included), and truncation."""
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(_raw(0, seed.header_end - 1) | _structural, max_size=6))
    truncate = data.draw(st.none() | st.integers(0, seed.header_end + 64))
    _holds(mutate(seed, edits, truncate), tmp_path / "fuzz.tif")


@settings(max_examples=max(EXAMPLES // 5, 1), **_FUZZ)
@given(data=st.data())
def test_fuzz_mutated_tile_data(data: st.DataObject, seeds: list[Seed], tmp_path: Path) -> None:
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(_raw(seed.header_end, len(seed.data) - 1), min_size=1, max_size=12))
    _holds(mutate(seed, edits, None), tmp_path / "fuzz.tif")


def test_tile_offsets_that_overflow_are_truncation_errors(tiled: Seed, tmp_path: Path) -> None:
    """A stored header with wrapping offset + count (2**64 - 16 + 32) must not reach I/O."""
    header = parse_header(tiled.data)
    offsets = header.base.tile_offsets.copy()
    counts = header.base.tile_byte_counts.copy()
    offsets[0], counts[0] = 2**64 - 16, 32
    base = replace(header.base, tile_offsets=offsets, tile_byte_counts=counts)
    path = tmp_path / "wrap.tif"
    path.write_bytes(tiled.data)
    tif = cogdex.GeoTIFF.from_header(replace(header, levels=(base, *header.levels[1:])), path)
    with pytest.raises(TruncatedTIFF, match="tile 0"):
        tif.read(window=(0, 0, 8, 8))


def test_a_rewritten_layout_never_gets_cached_tiles_of_another_shape(
    seeds: list[Seed], tmp_path: Path
) -> None:
    """Found by the fuzz script: a file rewritten in place whose tiles keep their offsets
    and sizes but change planar configuration got single-plane tiles from the tile cache
    and failed pasting them with a raw IndexError."""
    separate = seeds[3]
    path = tmp_path / "rewritten.tif"
    path.write_bytes(separate.data)
    header = parse_header(separate.data)
    cogdex.GeoTIFF.from_header(header, path).read(window=(0, 0, 8, 8))
    contiguous = replace(header.base, planar=1)
    rewritten = cogdex.GeoTIFF.from_header(replace(header, levels=(contiguous,)), path)
    with pytest.raises(DecodeError, match="tile 0"):
        rewritten.read(window=(0, 0, 8, 8))
