"""A fresh process's TorchGeo dataset prepares its first read while it is built
(`cogdex.sdk.prepare_reads`): the codec modules are loaded, no request is sent, a fork
waits for it; the first batch then sends its GETs from the event loop (obstore's async API:
no I/O thread) and reads the same pixels."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from torchgeo.samplers import RandomPatchSampler

import cogdex
from cogdex.testing import RangeServer
from tests.adapters.conftest import BANDS
from tests.servers.scenes import StacFiles

_SCRIPT = """
import hashlib, json, os, sys, threading
import numpy as np
import cogdex

args = json.loads(sys.argv[1])
coll = cogdex.build_from_stac(args["items"], name="adapters-prepare", bands=args["bands"],
                              href_rewrites=args["rewrites"], cache_dir=args["cache"])
ds = coll.to_torchgeo_dataset(args["bands"], crs=32643, chip_size=8)
pid = os.fork()  # waits for the preparation in flight: the sync point of this test
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)

def io_threads():
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("cogdex-io_"))

ready = io_threads()
codecs = [m for m in ("imagecodecs._deflate", "imagecodecs._imcd") if m in sys.modules]
print(json.dumps({"io_threads": len(ready), "codecs": codecs}), flush=True)
sys.stdin.readline()  # the test has looked at the server's log
chips = [(slice(*x), slice(*y)) for x, y in args["chips"]]
images = np.stack([s["image"].numpy() for s in ds.__getitems__(chips)])
print(json.dumps({"io_threads": len(io_threads()),
                  "digest": hashlib.sha1(images.tobytes()).hexdigest(), "shape": images.shape}))
"""


@pytest.fixture(scope="module")
def logged_coll(stac_files: StacFiles, logged_server: RangeServer, tmp_path_factory):
    cache = tmp_path_factory.mktemp("prepare-cache")
    rewrites = {stac_files.base_url: logged_server.url}
    coll = cogdex.build_from_stac(
        stac_files.items_json,
        name="adapters-prepare",
        bands=BANDS,
        href_rewrites=rewrites,
        cache_dir=cache,
    )
    return coll, {"items": str(stac_files.items_json), "rewrites": rewrites, "cache": str(cache)}


def test_a_fresh_dataset_prepares_its_first_read(logged_coll, logged_server: RangeServer):
    coll, build = logged_coll
    here = coll.to_torchgeo_dataset(BANDS, crs=32643, chip_size=8)
    chips = list(RandomPatchSampler(here, size=8, length=4, generator=0))
    expected = np.stack([s["image"].numpy() for s in here.__getitems__(chips)])
    args = {**build, "bands": BANDS, "chips": [[[x.start, x.stop], [y.start, y.stop]]
                                                  for x, y, *_ in chips]}  # fmt: skip
    logged_server.clear_log()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    prepared = json.loads(proc.stdout.readline())
    # Loading the index, building the dataset and preparing its read sent no request.
    assert logged_server.requests == []
    assert prepared == {
        "io_threads": 0,
        "codecs": ["imagecodecs._deflate", "imagecodecs._imcd"],  # deflate, predictor 2
    }
    out, _ = proc.communicate("go\n", timeout=120)
    assert proc.returncode == 0
    read = json.loads(out)
    assert read["io_threads"] == 0  # the GETs left from the loop, no thread started for them
    assert read["shape"] == list(expected.shape)
    assert read["digest"] == hashlib.sha1(expected.tobytes()).hexdigest()
    assert logged_server.requests  # and it did read, over the logged server
