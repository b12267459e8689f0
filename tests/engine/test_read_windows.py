"""The multi-file read engine against the real HTTP server and rasterio's answers."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

import cogdex
from cogdex.errors import AccessDeniedError, DecodeError, NotFoundError
from cogdex.io import fetch, runtime
from cogdex.read.reader import Source, WindowRead, read_windows, read_windows_sync
from cogdex.read.tilecache import TileCache
from cogdex.read.window import Window as CogWindow
from tests.servers.scenes import SceneSet


def _source(url: str) -> Source:
    tif = cogdex.open(url)
    return Source(tif.url, tif.header)


def _expected(path, window, bands, overview=None, fill=0):
    """rasterio's boundless read of a window (1-based band indexes)."""
    kw = {"overview_level": overview} if overview is not None else {}
    with rasterio.open(path, **kw) as ds:
        col, row, w, h = window
        return ds.read(
            [b + 1 for b in bands], window=Window(col, row, w, h), boundless=True, fill_value=fill
        )


WINDOWS = [
    CogWindow(0, 0, 300, 200),  # top-left, inside one tile
    CogWindow(480, 500, 90, 40),  # across four tiles
    CogWindow(900, 950, 300, 300),  # hangs off the bottom-right edge
    CogWindow(-50, -20, 120, 80),  # hangs off the top-left edge
    CogWindow(2000, 2000, 10, 10),  # wholly outside: all fill
]


@pytest.fixture(scope="module")
def sources(scenes: SceneSet, http_server) -> dict[str, tuple[Source, object]]:
    out = {}
    for scene in scenes.scenes[:3]:
        for asset in ("B04", "stack"):
            out[f"{scene.id}/{asset}"] = (
                _source(f"{http_server.url}/{scene.keys[asset]}"),
                scene.files[asset],
            )
    return out


def test_many_windows_of_many_files_equal_rasterio(sources):
    reads, expected = [], []
    for source, path in sources.values():
        count = source.header.base.samples_per_pixel
        bands = (2, 0) if count == 4 else (0,)
        for window in WINDOWS:
            reads.append(WindowRead(source, window, bands))
            expected.append(_expected(path, window, bands))
    arrays = read_windows_sync(reads, cache=TileCache(0))
    assert len(arrays) == len(expected)
    for got, want in zip(arrays, expected, strict=True):
        assert got.dtype == want.dtype == np.uint16
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("cached", [False, True])
def test_each_window_is_handed_over_once_when_complete(sources, cached):
    """`on_window` sees every window exactly once (those needing no tile too), already
    complete, on the decode pool while other windows may still be loading; with a warm
    cache the tiles come from it and the windows are handed over all the same."""
    reads = [WindowRead(s, w, (0,)) for s, _ in sources.values() for w in WINDOWS]
    cache = TileCache(64) if cached else TileCache(0)
    if cached:
        read_windows_sync(reads, cache=cache)
    seen: dict[int, np.ndarray] = {}
    threads = set()

    def on_window(i: int, array: np.ndarray) -> None:
        assert i not in seen
        seen[i] = array.copy()
        threads.add(threading.current_thread().name)

    assert runtime.run(read_windows(reads, cache=cache, on_window=on_window)) == []
    assert sorted(seen) == list(range(len(reads)))
    arrays = read_windows_sync(reads, cache=cache)
    for i, array in enumerate(arrays):
        np.testing.assert_array_equal(seen[i], array)
    assert any(name != threading.main_thread().name for name in threads)


def test_ahead_jobs_run_once_on_the_decode_pool_after_the_gets_left(sources):
    """`ahead` (a warp's sample points) runs on the decode pool while the tiles are in
    flight: once per job, after every GET of the read was sent (the jobs hold the GIL
    that sending needs), and the read waits for them."""
    reads = [WindowRead(s, w, (0,)) for s, _ in sources.values() for w in WINDOWS]
    ran: list[tuple[str, int]] = []

    def job() -> None:
        ran.append((threading.current_thread().name, fetch.stats().requests))

    with fetch.recording() as recorder:
        before = fetch.stats().requests
        runtime.run(read_windows(reads, cache=TileCache(0), ahead=[job, job]))
    assert recorder.requests > 0
    assert len(ran) == 2
    for thread, sent in ran:
        assert thread.startswith("cogdex-decode")
        assert sent - before == recorder.requests


def test_overview_levels_equal_rasterio(sources):
    source, path = next(iter(sources.values()))
    n_overviews = len(source.header.levels) - 1
    assert n_overviews >= 1
    reads = [
        WindowRead(source, CogWindow(10, 20, 200, 150), (0,), level=i + 1)
        for i in range(n_overviews)
    ]
    for i, got in enumerate(read_windows_sync(reads, cache=TileCache(0))):
        np.testing.assert_array_equal(got, _expected(path, (10, 20, 200, 150), (0,), overview=i))


def test_each_tile_is_fetched_once_per_call_and_not_at_all_when_cached(sources):
    source, _ = next(iter(sources.values()))
    level = source.header.base
    overlapping = [
        WindowRead(source, CogWindow(400 + d, 400 + d, 300, 300)) for d in range(0, 100, 10)
    ]
    cache = TileCache(64 << 20)
    with fetch.recording() as first:
        a = read_windows_sync(overlapping, cache=cache)
    tiles = {0, 1, level.tiles_across, level.tiles_across + 1}  # the 4 tiles around (512, 512)
    tile_bytes = sum(int(level.tile_byte_counts[t]) for t in tiles)
    assert tile_bytes <= first.bytes <= tile_bytes + 16 * len(tiles)  # + GDAL's tile leaders
    assert first.requests <= 2  # adjacent tiles share a GET
    with fetch.recording() as second:
        b = read_windows_sync(overlapping, cache=cache)
    assert second.requests == 0
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_concurrent_calls_share_tiles_in_flight(sources):
    source, _ = next(iter(sources.values()))
    cache = TileCache(64 << 20)
    reads = [WindowRead(source, CogWindow(0, 0, 1024, 1024))]

    async def both():
        return await asyncio.gather(*(read_windows(reads, cache=cache) for _ in range(5)))

    with fetch.recording() as rec:
        results = runtime.run(both())
    level = source.header.base
    tile_bytes = int(level.tile_byte_counts[: level.tiles_across * level.tiles_down].sum())
    assert tile_bytes <= rec.bytes <= tile_bytes + 64  # each tile once (+ leaders in merges)
    for r in results[1:]:
        np.testing.assert_array_equal(r[0], results[0][0])


def test_planar_separate_read_touches_only_the_bands_asked_for(tmp_path, http_server, scenes):
    src = scenes.scenes[0].files["stack"]
    dst = scenes.root / "planar_stack.tif"
    with rasterio.open(src) as ds:
        profile = ds.profile | {"interleave": "band", "tiled": True, "blockxsize": 256,
                                "blockysize": 256}  # fmt: skip
        data = ds.read()
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
    source = _source(f"{http_server.url}/{scenes.key(dst)}")
    level = source.header.base
    assert level.planar == 2
    with fetch.recording() as rec:
        (got,) = read_windows_sync(
            [WindowRead(source, CogWindow(0, 0, 256, 256), (3,))], cache=TileCache(0)
        )
    np.testing.assert_array_equal(got[0], data[3, :256, :256])
    plane_tile = 3 * level.tiles_across * level.tiles_down
    assert rec.bytes == int(level.tile_byte_counts[plane_tile])


def test_masks_fill_values_and_errors(sources, http_server, scenes):
    source, _ = next(iter(sources.values()))
    (got,) = read_windows_sync(
        [WindowRead(source, CogWindow(-10, -10, 20, 20), (0,), fill=7)], cache=TileCache(0)
    )
    assert (got[0, :10, :] == 7).all() and (got[0, :, :10] == 7).all()
    missing = Source(f"{http_server.url}/scenes/nope.tif", source.header)
    with pytest.raises(NotFoundError, match=r"nope\.tif"):
        read_windows_sync([WindowRead(missing, CogWindow(0, 0, 10, 10))], cache=TileCache(0))


def test_corrupt_tile_bytes_raise_decode_error_and_do_not_poison_the_cache(scenes, http_server):
    path = scenes.scenes[1].files["B03"]
    good = cogdex.open(path).header
    broken = scenes.root / "broken.tif"
    raw = bytearray(path.read_bytes())
    first = int(good.base.tile_offsets[0])
    raw[first : first + 64] = b"\xff" * 64
    broken.write_bytes(bytes(raw))
    url = f"{http_server.url}/{scenes.key(broken)}"
    source = Source(url, cogdex.open(url).header)  # its own version; the layout is good's
    assert source.header == good
    cache = TileCache(64 << 20)
    with pytest.raises(DecodeError, match="tile 0"):
        read_windows_sync([WindowRead(source, CogWindow(0, 0, 10, 10))], cache=cache)
    assert len(cache) == 0


@pytest.mark.parametrize("store", ["local", "http", "s3", "azure"])
def test_every_store_reads_edge_windows_like_rasterio(store, request, scenes: SceneSet):
    scene = scenes.scenes[2]  # one with a nodata corner
    key, path = scene.keys["stack"], scene.files["stack"]
    if store == "local":
        url, options = str(path), {}
    elif store == "http":
        url, options = f"{request.getfixturevalue('http_server').url}/{key}", {}
    else:
        server = request.getfixturevalue(f"{store}_server")
        url, options = server.url(key), server.options
    tif = cogdex.open(url, **options)
    assert tif.header == cogdex.open(path).header
    windows = [*WINDOWS, CogWindow(1000, -5, 40, 1040), CogWindow(-3, 1020, 1030, 10),
               CogWindow(511, 511, 2, 2)]  # fmt: skip
    reads = [WindowRead(Source(tif.url, tif.header, options), w, (3, 1)) for w in windows]
    for got, window in zip(read_windows_sync(reads, cache=TileCache(0)), windows, strict=True):
        np.testing.assert_array_equal(got, _expected(path, window, (3, 1)))


def test_cached_tiles_are_not_served_to_a_reader_with_other_credentials(azure_server, scenes):
    """A tile cached by a read with the account key must not reach a read whose key Azurite
    refuses: that read goes to the server and fails, as it would without the cache."""
    key = scenes.scenes[0].keys["B04"]
    url = azure_server.url(key)
    good = azure_server.options
    header = cogdex.open(url, **good).header
    cache = TileCache(64 << 20)
    window = CogWindow(0, 0, 64, 64)
    (first,) = read_windows_sync([WindowRead(Source(url, header, good), window)], cache=cache)
    with fetch.recording() as again:
        (second,) = read_windows_sync([WindowRead(Source(url, header, good), window)], cache=cache)
    assert again.requests == 0 and np.array_equal(first, second)  # same reader: cached
    wrong = {**good, "account_key": "d3Jvbmcga2V5IGZvciB0aGlzIGFjY291bnQ="}
    with pytest.raises(AccessDeniedError):
        read_windows_sync([WindowRead(Source(url, header, wrong), window)], cache=cache)
