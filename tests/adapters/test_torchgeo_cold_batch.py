"""A fresh process's first TorchGeo batch sends its range GETs from cogdex's event loop
(obstore's async API, behind the runtime's exit fence): no I/O thread is started for them,
and the batch reads the same pixels as a warm process."""

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
import hashlib, json, sys, threading
import numpy as np
import cogdex

args = json.loads(sys.argv[1])
coll = cogdex.build_from_stac(args["items"], name="adapters-cold", bands=args["bands"],
                              href_rewrites=args["rewrites"], cache_dir=args["cache"])
ds = coll.to_torchgeo_dataset(args["bands"], crs=32643, chip_size=8)
chips = [(slice(*x), slice(*y)) for x, y in args["chips"]]
images = np.stack([s["image"].numpy() for s in ds.__getitems__(chips)])
io_threads = [t.name for t in threading.enumerate() if t.name.startswith("cogdex-io_")]
print(json.dumps({"io_threads": len(io_threads), "shape": images.shape,
                  "digest": hashlib.sha1(images.tobytes()).hexdigest()}))
"""


@pytest.fixture(scope="module")
def logged_coll(stac_files: StacFiles, logged_server: RangeServer, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cold-cache")
    rewrites = {stac_files.base_url: logged_server.url}
    coll = cogdex.build_from_stac(
        stac_files.items_json,
        name="adapters-cold",
        bands=BANDS,
        href_rewrites=rewrites,
        cache_dir=cache,
    )
    return coll, {"items": str(stac_files.items_json), "rewrites": rewrites, "cache": str(cache)}


def test_a_cold_batch_sends_its_gets_from_the_loop(logged_coll, logged_server: RangeServer):
    coll, build = logged_coll
    here = coll.to_torchgeo_dataset(BANDS, crs=32643, chip_size=8)
    chips = list(RandomPatchSampler(here, size=8, length=4, generator=0))
    expected = np.stack([s["image"].numpy() for s in here.__getitems__(chips)])
    args = {**build, "bands": BANDS, "chips": [[[x.start, x.stop], [y.start, y.stop]]
                                                  for x, y, *_ in chips]}  # fmt: skip
    logged_server.clear_log()
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    read = json.loads(proc.stdout.splitlines()[-1])
    assert read["io_threads"] == 0  # every GET left from the loop
    assert read["shape"] == list(expected.shape)
    assert read["digest"] == hashlib.sha1(expected.tobytes()).hexdigest()
    assert logged_server.requests  # it did read, over the logged server, and no header:
    assert not [r for r in logged_server.requests if (r.range or "").startswith("bytes=0-")]
