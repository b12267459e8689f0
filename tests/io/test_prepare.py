"""The read set-up started on a thread (`cogdex.read.prepare`): a fork while it runs, and a
step that fails on the thread, which the read must raise itself. Each case runs in a fresh
interpreter, where the set-up really has work to do (this process did it long ago)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_FORK_WHILE_PREPARING = """
import multiprocessing as mp, os, sys
from cogdex.io import fetch, runtime
from cogdex.read import prepare

url = sys.argv[1]

def read(queue=None):
    import pyproj  # what the set-up thread was importing at the fork

    assert pyproj.CRS.from_epsg(32643).to_epsg() == 32643
    parts = runtime.run(fetch.read_ranges(url, [(0, 8), (1000, 1010)]), timeout=60)
    got = b"".join(bytes(p) for p in parts)
    if queue is None:
        return got
    queue.put(got)

thread = prepare.prepare([url])
assert "pyproj" not in sys.modules or thread.is_alive()  # the fork lands during the set-up
ctx = mp.get_context("fork")
queue = ctx.Queue()
child = ctx.Process(target=read, args=(queue,), daemon=True)  # a hung child dies with us
child.start()
in_child = queue.get(timeout=30)  # without the fork's wait, the child hangs on pyproj's lock
child.join(timeout=30)
assert child.exitcode == 0, child.exitcode
assert in_child == read() and len(in_child) == 18
print("ok")
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_child_forked_while_the_set_up_runs_reads(http_server, scenes):
    url = f"{http_server.url}/{scenes.key(scenes.scenes[0].files['B04'])}"
    done = _python(_FORK_WHILE_PREPARING, url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


_FAILING_STORE = """
import sys, time
from cogdex import plugins
from cogdex.errors import StoreError
from cogdex.io import fetch, runtime
from cogdex.read import prepare
from cogdex.sdk import hookimpl

url = sys.argv[1]
calls = []

class Broken:
    @hookimpl
    def cogdex_store_spec(self, url, options):
        calls.append(time.monotonic())
        raise StoreError("no token for this root (from the plugin)")

plugins.register(Broken(), name="broken")
prepare.prepare([url])
prepare.wait(30)
assert len(calls) == 1  # the thread asked the plugin, which failed there
try:
    runtime.run(fetch.read_ranges(url, [(0, 8)]), timeout=30)
except StoreError as exc:
    print(type(exc).__name__, exc, len(calls))
"""


def test_a_store_that_fails_on_the_set_up_thread_fails_the_read_with_its_own_error(
    http_server, scenes
):
    """The failure is not swallowed: the read asks again and raises the plugin's error."""
    url = f"{http_server.url}/{scenes.key(scenes.scenes[0].files['B04'])}"
    done = _python(_FAILING_STORE, url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "StoreError no token for this root (from the plugin) 2"


_READ_DURING_SET_UP = """
import sys, threading
from cogdex import plugins
from cogdex.io import fetch, runtime
from cogdex.read import prepare
from cogdex.sdk import hookimpl

url = sys.argv[1]
asked = threading.Event()
release = threading.Event()

class Slow:
    @hookimpl
    def cogdex_store_spec(self, url, options):
        asked.set()
        release.wait(30)  # a plugin still fetching a token on the set-up thread
        raise RuntimeError("token service down")

plugins.register(Slow(), name="slow")
prepare.prepare([url])
assert asked.wait(30)
threading.Timer(0.5, release.set).start()
try:
    runtime.run(fetch.read_ranges(url, [(0, 8)]), timeout=30)
except RuntimeError as exc:
    print(exc)
"""


def test_a_read_waits_for_a_store_the_set_up_is_building_and_raises_its_failure(
    http_server, scenes
):
    """The read neither builds the store twice at once nor hangs: it waits for the set-up
    thread's attempt, then tries itself and raises what the plugin raises."""
    url = f"{http_server.url}/{scenes.key(scenes.scenes[0].files['B04'])}"
    done = _python(_READ_DURING_SET_UP, url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "token service down"


_CODECS = """
import sys
from cogdex.read import prepare
from cogdex.tiff import tags as T

prepare.prepare(codecs=[(T.ADOBE_DEFLATE, T.PREDICTOR_HORIZONTAL)])
prepare.wait(30)
loaded = {m for m in sys.modules if m.startswith("imagecodecs._")}
print(sorted(loaded & {"imagecodecs._deflate", "imagecodecs._imcd", "imagecodecs._jpeg8"}))
"""


def test_the_set_up_loads_the_codecs_of_the_files_and_no_other():
    """Deflate with the horizontal predictor (imagecodecs loads each codec on first use,
    2-8 ms of the first tile otherwise); JPEG stays unloaded."""
    done = _python(_CODECS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['imagecodecs._deflate', 'imagecodecs._imcd']"


_CACHED_BUILD = """
import sys
import cogdex
from cogdex.read import prepare

coll = cogdex.build_from_stac(sys.argv[1], name="prepared", bands=["B04"], cache_dir=sys.argv[2])
prepare.wait(30)
print(len(coll), sorted(m for m in ("cogdex.read.scenes", "pyproj") if m in sys.modules))
"""


def test_a_cached_build_starts_the_read_set_up(stac_files, tmp_path):
    """A build answered from the cache is most likely read next: its set-up (reader, PROJ)
    loads on the thread while the index loads, where a fresh build does not start it."""
    args = (str(stac_files.items_json), str(tmp_path))
    built = _python(_CACHED_BUILD, *args)
    assert built.returncode == 0, built.stderr
    assert "cogdex.read.scenes" not in built.stdout
    cached = _python(_CACHED_BUILD, *args)
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.split()[1:] == ["['cogdex.read.scenes',", "'pyproj']"]
