"""The fetch layer against real servers that misbehave: retries, typed errors, coalescing,
and servers that ignore Range."""

from __future__ import annotations

import numpy as np
import pytest

from cogdex.errors import DeadlineExceededError, FetchError, NotFoundError
from cogdex.io import fetch, runtime
from cogdex.read.reader import Source, WindowRead, read_windows_sync
from cogdex.read.tilecache import TileCache
from cogdex.read.window import Window
from cogdex.testing import RangeServer
from cogdex.tiff.header import read_header
from tests.servers.scenes import SceneSet


@pytest.fixture
def fast_retries():
    before = fetch.config()
    fetch.configure(retries=3, backoff=0.01, backoff_max=0.05, throttle_backoff=0.01)
    yield
    fetch.configure(**before.__dict__)


@pytest.fixture
def fetch_config():
    """`fetch.configure` for one test: the process's settings come back after it."""
    before = fetch.config()
    yield fetch.configure
    fetch.configure(**before.__dict__)


@pytest.fixture
def small_whole_objects(monkeypatch):
    """Objects larger than the whole-object cache, and no origin remembered from before."""
    monkeypatch.setattr(fetch, "_whole", fetch._WholeObjects())
    before = fetch.config()
    fetch.configure(whole_object_cache=64 * 1024)
    yield
    fetch.configure(**before.__dict__)


@pytest.fixture
def target(scenes: SceneSet) -> tuple[str, bytes]:
    scene = scenes.scenes[0]
    return scene.keys["B08"], scene.files["B08"].read_bytes()


def _read(url: str, ranges, **options) -> list[bytes]:
    return [bytes(b) for b in runtime.run(fetch.read_ranges(url, ranges, options=options))]


@pytest.mark.parametrize(
    "fault", ["503", "429", "500", "408", "reset", "reset-body", "short", "bad-range"]
)
def test_passing_failures_are_retried(fault_server, target, fast_retries, fault):
    key, data = target
    fault_server.inject(key, [fault, fault])
    with fetch.recording() as rec:
        got = _read(f"{fault_server.url}/{key}", [(1000, 5000)])
    assert got == [data[1000:5000]]
    assert rec.retries == 2
    assert [r.action for r in fault_server.requests] == [fault, fault, "ok"]


def test_a_stalled_request_times_out_and_is_retried(fault_server, target, fast_retries):
    key, data = target
    fault_server.stall_s = 5
    fault_server.inject(key, ["stall"])
    got = _read(f"{fault_server.url}/{key}", [(0, 100)], client_options={"timeout": "1s"})
    assert got == [data[:100]]


def test_persistent_failure_raises_a_typed_error_naming_url_and_range(
    fault_server, target, fast_retries
):
    key, _ = target
    fault_server.inject(key, ["503"] * 10)
    url = f"{fault_server.url}/{key}"
    with pytest.raises(FetchError) as info:
        _read(url, [(100, 200)])
    assert info.value.url == url
    assert info.value.byte_range == (100, 200)
    assert "bytes 100-199" in str(info.value) and "4 tries" in str(info.value)
    assert len(fault_server.requests) == 4


def test_not_found_is_not_retried(fault_server, fast_retries):
    with fetch.recording() as rec, pytest.raises(NotFoundError):
        _read(f"{fault_server.url}/scenes/missing.tif", [(0, 10)])
    assert rec.requests == 1


def test_a_read_error_is_never_turned_into_fill_values(fault_server, target, fast_retries):
    key, _ = target
    url = f"{fault_server.url}/{key}"
    header = runtime.run(read_header(url))
    fault_server.inject(key, ["500"] * 10)
    with pytest.raises(FetchError, match="500"):
        read_windows_sync(
            [WindowRead(Source(url, header), Window(0, 0, 64, 64))], cache=TileCache(0)
        )


def test_close_ranges_share_one_get_and_far_ones_do_not(fault_server, target):
    key, data = target
    url = f"{fault_server.url}/{key}"
    ranges = [(0, 100), (150, 300), (300, 400), (len(data) - 100, len(data))]
    got = _read(url, ranges)
    assert got == [data[a:b] for a, b in ranges]
    assert sorted(r.range for r in fault_server.requests) == [
        "bytes=0-399",
        f"bytes={len(data) - 100}-{len(data) - 1}",
    ]


def test_merge_rules():
    starts = np.array([0, 10, 100, 5000, 5100, 9000])
    ends = np.array([10, 20, 200, 5050, 5200, 20000])
    s, e, of = fetch.merge_ranges(starts, ends, gap=100, max_merge=10_000)
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == [(0, 200), (5000, 5200), (9000, 20000)]
    assert of.tolist() == [0, 0, 0, 1, 1, 2]
    # A wide gap would merge everything; the cap splits where a GET would pass 5000 bytes,
    # and a range longer than the cap stands alone.
    s, e, of = fetch.merge_ranges(starts, ends, gap=10_000, max_merge=5_000)
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == [(0, 200), (5000, 5200), (9000, 20000)]
    assert of.tolist() == [0, 0, 0, 1, 1, 2]


def test_a_server_that_ignores_range_is_read_through_one_whole_object_get(
    http_server_no_range, target
):
    key, data = target
    url = f"{http_server_no_range.url}/{key}"
    head, version = runtime.run(fetch.read_head(url, 16_384))
    assert (head, version.size) == (data[:16_384], len(data))
    ranges = [(10, 20), (len(data) - 5, len(data))]
    with fetch.recording() as rec:
        got = runtime.run(fetch.read_ranges(url, ranges, version=version))
    assert [bytes(b) for b in got] == [data[10:20], data[-5:]]
    assert rec.requests == 0  # the body fetched by read_head, of the version expected
    with fetch.recording() as rec:
        assert _read(url, ranges) == [data[10:20], data[-5:]]
    assert (rec.requests, rec.bytes) == (1, 0)  # no version expected: revalidated (304)


def test_a_whole_object_fetched_with_credentials_never_serves_a_read_without_them(
    http_server_no_range, target, monkeypatch
):
    """Bodies are kept per store: other options (another key, none) fetch their own."""
    monkeypatch.setattr(fetch, "_whole", fetch._WholeObjects())
    key, data = target
    url = f"{http_server_no_range.url}/{key}"
    signed = {"client_options": {"default_headers": {"Authorization": "Bearer someone"}}}
    with fetch.recording() as rec:
        runtime.run(fetch.read_head(url, 100, options=signed))
    assert rec.requests >= 1
    with fetch.recording() as rec:
        assert runtime.run(fetch.read_head(url, 100, options=signed))[0] == data[:100]
    assert rec.bytes == 0  # the same store: its body is reused (revalidated: a 304)
    with fetch.recording() as rec:
        assert runtime.run(fetch.read_head(url, 100))[0] == data[:100]
    assert rec.bytes == len(data)  # another store fetches the body itself


def test_one_whole_object_answer_is_asked_again_with_range_and_not_remembered(
    fault_server, target, small_whole_objects
):
    key, data = target
    url = f"{fault_server.url}/{key}"
    fault_server.inject(key, ["full"])  # a proxy that ignored Range once
    windows = [(i * 40_000, i * 40_000 + 5_000) for i in range(40)]
    with fetch.recording() as rec:
        got = [_read(url, [w]) for w in windows]
    assert got == [[data[a:b]] for a, b in windows]
    assert rec.bytes == 40 * 5_000  # the refused 200 body is not read
    assert [r.action for r in fault_server.requests] == ["full"] + ["ok"] * 40
    assert all(r.range for r in fault_server.requests)


def test_a_server_that_ignores_range_sends_a_large_object_only_up_to_the_read_and_is_reprobed(
    tmp_path, small_whole_objects
):
    data = np.random.default_rng(5).bytes(4 << 20)
    (tmp_path / "large.bin").write_bytes(data)
    with RangeServer(tmp_path, tmp_path / "log", honour_range=False) as server:
        url = f"{server.url}/large.bin"
        with fetch.recording() as rec:
            assert _read(url, [(10, 20)]) == [data[10:20]]
        # The stream is read until the 20 bytes are in (fetch._get_whole), so at most one
        # chunk past them arrives. With a need under fetch._STREAM_CHUNK, that chunk ends at
        # the HTTP client's first socket read that reaches the need: hyper reads up to its
        # max_buf_size (8 KiB + 400 KiB) into a buffer that may grow to twice that on a
        # pooled connection that read large bodies before (earlier tests' reads of this
        # origin), so a read that finds the headers and much of the body already waiting (a
        # loaded machine, the client's thread scheduled late) returns up to ~816 KiB: 417
        # and 457 KB were seen, past the quarter of a 1.67 MB object this bound was before.
        # So: under the need plus fetch._STREAM_CHUNK, of an object that is larger.
        assert rec.bytes < 20 + fetch._STREAM_CHUNK < len(data)
        assert [r.range is not None for r in server.requests] == [True, True, False]
        server.clear_log()
        for _ in range(fetch._REPROBE_AFTER + 1):
            assert _read(url, [(len(data) - 5, len(data))]) == [data[-5:]]
        ranged = [r.range is not None for r in server.requests]
        assert ranged == [False] * fetch._REPROBE_AFTER + [True, True, False]


def test_a_stall_before_the_headers_is_cut_by_the_read_timeout(fault_server, target, fast_retries):
    key, _ = target
    url = f"{fault_server.url}/{key}"
    fault_server.stall_s = 30
    fault_server.inject(key, ["stall"] * 4)
    fetch.configure(deadline=20)  # a generous bound, should the read timeout not work
    with pytest.raises(FetchError) as info:
        _read(url, [(0, 100)], client_options={"read_timeout": "200ms"})
    assert type(info.value) is FetchError and "4 tries" in str(info.value)
    assert info.value.url == url
    assert [r.action for r in fault_server.requests] == ["stall"] * 4


def test_a_stall_is_cut_by_the_deadline_with_a_typed_error(fault_server, target, fetch_config):
    key, _ = target
    url = f"{fault_server.url}/{key}"
    fault_server.stall_s = 30
    fault_server.inject(key, ["stall"])
    fetch_config(deadline=0.5)
    with pytest.raises(DeadlineExceededError) as info:
        _read(url, [(100, 200)])
    assert isinstance(info.value, TimeoutError)
    assert info.value.url == url and info.value.byte_range == (100, 200)
    assert "0.5 s deadline passed during try 1" in str(info.value)
    assert len(fault_server.requests) == 1


@pytest.mark.parametrize("status", ["429", "503"])
def test_a_throttled_request_is_retried_no_sooner_than_the_server_asked(
    fault_server, target, fetch_config, status
):
    key, data = target
    fault_server.retry_after = "1"
    fault_server.inject(key, [status])
    fetch_config(backoff=0.01, backoff_max=0.05, throttle_backoff=1.0)
    assert _read(f"{fault_server.url}/{key}", [(0, 100)]) == [data[:100]]
    first, second = fault_server.requests
    assert (first.action, second.action) == (status, "ok")
    assert second.time - first.time >= 1.0


def test_the_deadline_stops_a_read_that_keeps_failing(fault_server, target, fetch_config):
    key, _ = target
    url = f"{fault_server.url}/{key}"
    fault_server.inject(key, ["500"] * 10_000)
    fetch_config(retries=10_000, backoff=0.01, backoff_max=0.02, deadline=0.5)
    with pytest.raises(DeadlineExceededError) as info:
        _read(url, [(0, 100)])
    assert info.value.url == url and "500" in str(info.value)
    assert 2 <= len(fault_server.requests) < 10_000


def test_the_deadline_is_set_from_the_environment(monkeypatch):
    monkeypatch.setenv("COGDEX_FETCH_DEADLINE", "2.5")
    assert fetch.FetchConfig.from_env().deadline == 2.5
    monkeypatch.setenv("COGDEX_FETCH_DEADLINE", "none")
    assert fetch.FetchConfig.from_env().deadline is None


def test_window_reads_after_one_whole_object_answer_move_what_clean_reads_move(
    fault_server, target, small_whole_objects
):
    key, _ = target
    url = f"{fault_server.url}/{key}"
    source = Source(url, runtime.run(read_header(url)))
    reads = [WindowRead(source, Window(x, y, 64, 64)) for x in (0, 256, 512) for y in (0, 256, 512)]

    def moved() -> tuple[int, list[np.ndarray]]:
        with fetch.recording() as rec:
            arrays = read_windows_sync(reads, cache=TileCache(0))
        return rec.bytes, arrays

    clean_bytes, clean = moved()
    fault_server.inject(key, ["full"])
    faulted_bytes, faulted = moved()
    assert faulted_bytes == clean_bytes
    assert all(np.array_equal(a, b) for a, b in zip(clean, faulted, strict=True))
    assert [r.action for r in fault_server.requests].count("full") == 1


@pytest.mark.parametrize("answers", [["ok", "full", "full"], ["full", "ok", "full", "full"]])
def test_tiles_of_gets_that_landed_before_a_whole_object_answer_are_all_cached(
    fault_server, target, small_whole_objects, answers
):
    """A file whose GETs land partly before one is answered whole: its tiles are read
    once each and every claimed tile ends up in the cache (a claimed tile left unfilled
    would hang the readers waiting for it)."""
    key, _ = target
    url = f"{fault_server.url}/{key}"
    source = Source(url, runtime.run(read_header(url)))
    reads = [WindowRead(source, Window(0, y, 64, 64)) for y in (0, 512)]  # tiles 0 and 2
    with fetch.recording() as rec:
        clean = read_windows_sync(reads, cache=TileCache(0))
    assert rec.requests == 2  # tile 1 lies between them: two GETs
    fault_server.inject(key, answers)
    cache = TileCache(64 * 2**20)
    got = read_windows_sync(reads, cache=cache)
    assert all(np.array_equal(a, b) for a, b in zip(clean, got, strict=True))
    assert len(cache) == 2 and not cache._loading
