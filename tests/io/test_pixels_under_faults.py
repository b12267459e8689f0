"""Pixels read through a server that fails on request: transient faults leave the bytes of a
clean read, permanent ones raise a typed error after a bounded number of requests."""

from __future__ import annotations

import numpy as np
import pytest

import cogdex
from cogdex.errors import AccessDeniedError, FetchError, NotFoundError, ReadDeadlineError
from cogdex.io import fetch, runtime
from tests.servers.faults import TRANSIENT
from tests.servers.scenes import StacFiles

AOI = (77.99, 19.992, 78.012, 20.01)  # across UTM 43N and 44N: both zones, warped pixels
BANDS = ["B04", "B08"]


@pytest.fixture(scope="module")
def clean_coll(stac_files: StacFiles, tmp_path_factory):
    """The same scenes on the plain HTTP server."""
    return cogdex.build_from_stac(
        stac_files.items_json,
        name="clean",
        bands=BANDS,
        cache_dir=tmp_path_factory.mktemp("clean-cache"),
    )


def _read(coll) -> np.ndarray:
    return coll.get_numpy(AOI, BANDS)


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_transient_faults_give_the_bytes_of_a_clean_read(
    fault_server, fault_coll, clean_coll, fast_uncached_reads, rate
):
    clean = _read(clean_coll)
    fault_server.stall_s = 0.2
    fault_server.random_faults(rate, TRANSIENT, seed=7)
    with fetch.recording() as rec:
        faulted = _read(fault_coll)
    assert faulted.dtype == clean.dtype and faulted.shape == clean.shape
    assert faulted.tobytes() == clean.tobytes()
    faults = [r.action for r in fault_server.requests if r.action != "ok"]
    assert faults, "no fault was injected"
    assert rec.retries >= 1


@pytest.mark.parametrize(
    ("fault", "error", "retried"),
    [
        ("404", NotFoundError, False),
        ("403", AccessDeniedError, False),
        ("bad-range", FetchError, True),
    ],
)
def test_permanent_faults_raise_a_typed_error_after_bounded_requests(
    fault_server, fault_coll, fast_uncached_reads, fault, error, retried
):
    _read(fault_coll)
    gets = len(fault_server.requests)  # a clean read's GETs
    tries = 3 if retried else 1  # 404 and 403 are never retried, whatever `retries` says
    if retried:
        fetch.configure(retries=tries - 1)
    fault_server.inject("*", [fault] * 10_000)
    with pytest.raises(error) as info:
        _read(fault_coll)
    assert info.value.url.startswith(f"{fault_server.url}/scenes/")
    assert info.value.byte_range is not None
    start, end = info.value.byte_range
    assert f"{info.value.url} bytes {start}-{end - 1}" in str(info.value)
    # the GETs sent before the error came back land after it: count once they have
    assert runtime.settle(60)
    assert 1 <= len(fault_server.requests) - gets <= gets * tries


def test_a_read_past_its_deadline_is_cancelled_with_a_typed_error(
    fault_server, fault_coll, clean_coll, fast_uncached_reads
):
    fault_server.stall_s = 30  # every GET stalls: only the read's deadline can end the read
    fault_server.inject("*", ["stall"] * 1000)
    fetch.configure(read_deadline=1.0)
    with pytest.raises(ReadDeadlineError, match=r"within its 1\.0 s deadline") as info:
        _read(fault_coll)
    assert isinstance(info.value, TimeoutError)
    fault_server.reset()
    fetch.configure(read_deadline=None)
    assert _read(fault_coll).tobytes() == _read(clean_coll).tobytes()  # the runtime still reads
