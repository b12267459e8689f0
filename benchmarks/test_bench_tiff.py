"""TIFF engine benchmarks (pytest-benchmark; not timed tests: nothing here asserts a time).

    uv run pytest benchmarks/test_bench_tiff.py --benchmark-only -p no:cacheprovider

A Sentinel-2-sized COG is written once per run (10980 x 10980 uint16, 1024-pixel tiles,
DEFLATE with horizontal predictor, 4 overviews; a ramp plus noise so tiles compress like
real data). Cases:

- header parse: `parse_header` of the bytes `cogdex.open` fetches (targets well under 1 ms);
- decode overhead: one tile through cogdex's decoder vs the bare imagecodecs calls that
  produce the same array (target < 10 % slower);
- threaded decode: 32 tiles on 1 vs 2 threads of the decode path (target 1.8x on 2 cores;
  `uv run python benchmarks/test_bench_tiff.py` prints the ratio from interleaved runs);
- open: `cogdex.open` of the local file (one request), for reference.

Ratios measured on the reference machine are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import concurrent.futures
import tempfile
import time
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_origin
from rasterio.windows import Window

import cogdex
from cogdex.tiff import codecs
from cogdex.tiff.header import PREFIX, parse_header
from cogdex.tiff.model import TIFFHeader

SIZE = 10980
TILE = 1024
THREAD_TILES = 32


def write_s2_cog(folder: Path) -> Path:
    """The benchmark COG (see the module docstring), written into `folder`."""
    src, cog = folder / "src.tif", folder / "s2.tif"
    rng = np.random.default_rng(0)
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": from_origin(300_000, 5_000_040, 10, 10),
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
    }
    ramp = (np.arange(SIZE, dtype=np.uint32) * 7 % 4096).astype(np.uint16)
    with rasterio.open(src, "w", **profile) as ds:
        for row in range(0, SIZE, TILE):
            rows = min(TILE, SIZE - row)
            band = ramp[None, :] + (np.arange(row, row + rows, dtype=np.uint16) // 3)[:, None]
            band = band + rng.integers(0, 64, band.shape, dtype=np.uint16)
            ds.write(band[None], window=Window(0, row, SIZE, rows))
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        rio_copy(src, cog, driver="COG", blocksize=TILE, compress="deflate", predictor=2)
    src.unlink()
    return cog


@pytest.fixture(scope="module")
def s2_cog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_s2_cog(tmp_path_factory.mktemp("bench-tiff"))


@pytest.fixture(scope="module")
def header(s2_cog: Path) -> TIFFHeader:
    return cogdex.open(s2_cog).header


def _tile_bytes(path: Path, header: TIFFHeader, index: int) -> bytes:
    level = header.base
    start = int(level.tile_offsets[index])
    with path.open("rb") as f:
        f.seek(start)
        return f.read(int(level.tile_byte_counts[index]))


def test_bench_header_parse(benchmark, s2_cog: Path) -> None:
    size = s2_cog.stat().st_size
    with s2_cog.open("rb") as f:
        prefix = f.read(PREFIX)
    parsed = benchmark(parse_header, prefix, size=size)
    assert len(parsed.levels) == 5
    benchmark.extra_info["levels"] = [(lv.width, lv.height) for lv in parsed.levels]


def test_bench_open_local(benchmark, s2_cog: Path) -> None:
    tif = benchmark(cogdex.open, s2_cog)
    assert tif.tile_shape == (TILE, TILE)


@pytest.mark.benchmark(group="tiff-decode-one-tile")
def test_bench_decode_tile_imagecodecs(benchmark, s2_cog: Path, header: TIFFHeader) -> None:
    """The floor: the imagecodecs calls any reader needs for this tile."""
    data = _tile_bytes(s2_cog, header, 60)
    nbytes = TILE * TILE * 2

    def raw() -> np.ndarray:
        buf = imagecodecs.zlib_decode(data, out=nbytes)
        arr = np.frombuffer(buf, "<u2").reshape(TILE, TILE, 1)
        return imagecodecs.delta_decode(arr, axis=-2)

    expected = raw()
    assert np.array_equal(benchmark(raw), expected)


@pytest.mark.benchmark(group="tiff-decode-one-tile")
def test_bench_decode_tile_cogdex(benchmark, s2_cog: Path, header: TIFFHeader) -> None:
    data = _tile_bytes(s2_cog, header, 60)
    decode = codecs.decoder(header.base, header.byte_order)
    tile = benchmark(decode, data)
    assert tile.shape == (TILE, TILE, 1)


def _decode_many(threads: int, benchmark, s2_cog: Path, header: TIFFHeader) -> None:
    tiles = [_tile_bytes(s2_cog, header, i) for i in range(THREAD_TILES)]
    decode = codecs.decoder(header.base, header.byte_order)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        decoded = benchmark(lambda: list(pool.map(decode, tiles)))
    assert len(decoded) == THREAD_TILES
    benchmark.extra_info["tiles"] = THREAD_TILES


@pytest.mark.benchmark(group="tiff-decode-threads")
def test_bench_decode_32_tiles_1_thread(benchmark, s2_cog: Path, header: TIFFHeader) -> None:
    _decode_many(1, benchmark, s2_cog, header)


@pytest.mark.benchmark(group="tiff-decode-threads")
def test_bench_decode_32_tiles_2_threads(benchmark, s2_cog: Path, header: TIFFHeader) -> None:
    _decode_many(2, benchmark, s2_cog, header)


def thread_speedup(path: Path, repeats: int = 15) -> tuple[float, float]:
    """Best times (s) of 32 tile decodes on 1 and on 2 threads, runs interleaved so that
    both see the same background load."""
    header = cogdex.open(path).header
    tiles = [_tile_bytes(path, header, i) for i in range(THREAD_TILES)]
    decode = codecs.decoder(header.base, header.byte_order)
    pools = {n: concurrent.futures.ThreadPoolExecutor(n) for n in (1, 2)}
    best = {1: float("inf"), 2: float("inf")}
    for _ in range(repeats):
        for n, pool in pools.items():
            start = time.perf_counter()
            list(pool.map(decode, tiles))
            best[n] = min(best[n], time.perf_counter() - start)
    return best[1], best[2]


if __name__ == "__main__":
    # uv run python benchmarks/test_bench_tiff.py: the 2-thread speedup, interleaved runs.
    with tempfile.TemporaryDirectory() as folder:
        one, two = thread_speedup(write_s2_cog(Path(folder)))
    print(f"32 tiles: 1 thread {one * 1e3:.1f} ms, 2 threads {two * 1e3:.1f} ms, {one / two:.2f}x")
