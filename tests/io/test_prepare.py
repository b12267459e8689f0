"""Codecs loaded on a thread while a read's requests are in flight (`cogdex.read.prepare`):
which codecs, a fork while the thread loads them, and a codec that cannot load. Each case
runs in a fresh interpreter, where the codecs really are still to load."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_PYTHON_CODECS = ("imagecodecs._deflate", "imagecodecs._imcd", "imagecodecs._jpeg8")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


_READ = f"""
import sys
import cogdex
from cogdex.read import prepare

url = sys.argv[1]
before = sorted(m for m in {_PYTHON_CODECS!r} if m in sys.modules)
tif = cogdex.open(url)
prepare.wait(30)
after_open = sorted(m for m in {_PYTHON_CODECS!r} if m in sys.modules)
assert tif.read(window=(0, 0, 16, 16)).shape == (1, 16, 16)
print(before, after_open, prepare.preload_codecs([(8, 2)]))
"""


def test_a_read_loads_the_codecs_of_its_files_and_no_other(http_server, scenes):
    """Deflate with the horizontal predictor, from the read's requests on (opening a file
    loads none), once per process; JPEG stays unloaded."""
    url = f"{http_server.url}/{scenes.key(scenes.scenes[0].files['B04'])}"
    done = _python(_READ, url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] [] None"  # the read loaded them: nothing left


_LOADED = f"""
import sys
from cogdex.read import prepare
from cogdex.tiff import tags as T

prepare.preload_codecs([(T.ADOBE_DEFLATE, T.PREDICTOR_HORIZONTAL)])
prepare.wait(30)
print(sorted(m for m in {_PYTHON_CODECS!r} if m in sys.modules))
"""


def test_preloading_loads_what_decoding_those_tiles_uses():
    done = _python(_LOADED)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['imagecodecs._deflate', 'imagecodecs._imcd']"


_FORK_WHILE_LOADING = """
import multiprocessing as mp, sys
import numpy as np
from cogdex.read import prepare
from cogdex.tiff import tags as T

def decode(queue):
    import imagecodecs  # what the thread was loading at the fork

    data = imagecodecs.deflate_encode(np.arange(64, dtype=np.uint8).tobytes())
    queue.put(bytes(imagecodecs.deflate_decode(data)) == bytes(range(64)))

thread = prepare.preload_codecs([(T.ADOBE_DEFLATE, T.PREDICTOR_HORIZONTAL)])
alive = thread.is_alive()
ctx = mp.get_context("fork")
queue = ctx.Queue()
child = ctx.Process(target=decode, args=(queue,), daemon=True)  # a hung child dies with us
child.start()
ok = queue.get(timeout=30)  # without the fork's wait, the child can hang on the codec's lock
child.join(timeout=30)
print(alive, ok, child.exitcode)
"""


def test_a_child_forked_while_codecs_load_decodes():
    done = _python(_FORK_WHILE_LOADING)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1:] == ["True", "0"]


_UNLOADABLE = """
import sys
from cogdex.read import prepare
from cogdex.tiff import codecs

real = codecs.preload

def broken_lzw(compression, predictor):
    if compression == 5:
        raise ImportError("imagecodecs built without LZW")
    real(compression, predictor)

codecs.preload = broken_lzw
prepare.preload_codecs([(8, 1), (5, 1)])  # LZW's load fails first
prepare.wait(30)
print("imagecodecs._deflate" in sys.modules)
"""


def test_a_codec_that_cannot_load_leaves_the_others_loading():
    """Its failure is the read's to raise, where it builds that decoder itself."""
    done = _python(_UNLOADABLE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
