"""The exit fence of obstore's async API (cogdex.io.runtime): a process that exits right
after an awaited header fetch must not abort while a tokio thread still hands the result
over to the event loop.

The hand-over's window is made wide and certain: in tokio threads the loop's self-pipe
write is followed by 1 ms sleeps (each one releases the GIL and takes it back, as the write
itself does) for up to `SLOW_S`. A thread that takes the GIL back once finalization has
begun is ended with `pthread_exit`, which aborts through Rust frames (SIGABRT).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

SLOW_S = 0.3

SLOW_HANDOVER = f"""
import asyncio.selector_events as se, threading, time
_write = se.BaseSelectorEventLoop._write_to_self
def _slow_write(self):
    _write(self)
    if isinstance(threading.current_thread(), threading._DummyThread):  # a tokio thread
        until = time.monotonic() + {SLOW_S}
        while time.monotonic() < until:
            time.sleep(0.001)
se.BaseSelectorEventLoop._write_to_self = _slow_write
"""

RAW_OBSTORE = """
import asyncio, os, sys, threading
import obstore
from obstore.store import LocalStore
folder, name = os.path.split(sys.argv[1])
store = LocalStore(folder)
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
async def head():
    got = await obstore.get_async(store, name, options={"range": (0, 16384)})
    return await got.bytes_async()
print(len(asyncio.run_coroutine_threadsafe(head(), loop).result()))
"""

COGDEX = """
import atexit, sys
from cogdex.io import fetch, runtime
if "--no-fence" in sys.argv:
    runtime.event_loop()
    atexit.unregister(runtime.settle)
data, size = runtime.run(fetch.read_head(sys.argv[1], 16384))
print(len(data))
"""


def _exit_of(script: str, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(SLOW_HANDOVER) + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code, path, *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def tiff(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("exit") / "a.tif"
    path.write_bytes(b"II*\x00" + bytes(40_000))
    return str(path)


@pytest.mark.parametrize(("script", "args"), [(RAW_OBSTORE, ()), (COGDEX, ("--no-fence",))])
def test_an_exit_during_the_hand_over_aborts_without_the_fence(tiff, script, args):
    done = _exit_of(script, tiff, *args)
    assert done.stdout.strip() == "16384"  # the call was awaited before the exit
    assert done.returncode == -signal.SIGABRT, done.stderr


def test_cogdex_waits_for_the_hand_over_at_exit(tiff):
    done = _exit_of(COGDEX, tiff)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "16384", "")


CUT_AT_EXIT = """
import sys
from cogdex.errors import DeadlineExceededError
from cogdex.io import fetch, runtime
fetch.configure(deadline=0.1, retries=0)
try:
    runtime.run(fetch.read_head(sys.argv[1], 16384))
except DeadlineExceededError:
    print("cut")
"""


def test_a_call_its_caller_gave_up_on_is_left_to_finish_before_the_exit(fault_server, scenes):
    """The deadline cancels the caller, not obstore's call (a cancelled Rust task takes the
    GIL later, at a moment nothing can see): the exit waits for the stalled GET to end."""
    key = scenes.scenes[0].keys["B08"]
    fault_server.stall_s = 1.0
    fault_server.inject(key, ["stall"])
    t0 = time.monotonic()
    done = _exit_of(CUT_AT_EXIT, f"{fault_server.url}/{key}")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "cut", "")
    assert time.monotonic() - t0 > 1.0
    assert [r.action for r in fault_server.requests] == ["stall"]


RANGES = """
import sys, threading
from cogdex.io import fetch, runtime
parts = runtime.run(fetch.read_ranges(sys.argv[1], [(0, 8), (100, 16484), (30_000, 30_010)]))
print(sum(len(p) for p in parts))
# through obstore's async API on cogdex's loop: no I/O thread was started for the GETs
print(sorted(t.name for t in threading.enumerate() if t.name.startswith("cogdex-io_")))
"""


def test_range_reads_go_through_the_fence_and_start_no_io_thread(tiff):
    """A read's GETs are obstore async calls on cogdex's loop: they all go out at once
    (threads started one per GET spread a cold get_numpy's GETs over 20-100 ms), and the
    exit waits for their hand-over as it does for header fetches."""
    done = _exit_of(RANGES, tiff)
    assert (done.returncode, done.stdout.split("\n")[:2], done.stderr) == (0, ["16402", "[]"], "")


def test_range_reads_in_another_loop_use_the_io_threads(http_server, scenes):
    """Outside cogdex's loop (a caller's `asyncio.run`) the fence cannot cover obstore's
    futures: the GETs are blocking calls on the I/O threads, with the same bytes."""
    import asyncio

    from cogdex.io import fetch

    key = scenes.scenes[0].keys["B04"]
    url = f"{http_server.url}/{key}"
    with open(scenes.root / key, "rb") as f:
        data = f.read()
    parts = asyncio.run(fetch.read_ranges(url, [(0, 8), (5_000, 9_000)]))
    assert [bytes(p) for p in parts] == [data[:8], data[5_000:9_000]]
