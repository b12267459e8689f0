"""The same index and call give the same bytes in any process, whatever it imported first.

Each scenario runs twice in fresh interpreters: one that imports nothing but cogdex, one that
imports rasterio (and so pyproj and GDAL's PROJ data) before it. The reads cross a UTM zone
boundary, so every pixel of the second zone goes through a coordinate transform.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

AOI = (77.99, 19.992, 78.012, 20.01)  # across UTM 43N and 44N

READS = f"""
import hashlib
import numpy as np
import cogdex

coll = cogdex.load(LOCATION)
digest = hashlib.sha256()
for resampling, dtype in (("nearest", None), ("bilinear", np.float32)):
    data = coll.get_numpy({AOI}, ["B04", "B08"], resampling=resampling, dtype=dtype)
    digest.update(data.tobytes())
    digest.update(coll.get_numpy({AOI}, ["B04"], crs=3857, resolution=7.5).tobytes())
lon = np.linspace(77.99, 78.012, 500)
lat = np.linspace(19.992, 20.01, 500)
table = coll.sample_points((lon, lat), ["B04", "B08"])
for name in table.column_names:
    digest.update(repr(table.column(name).to_pylist()).encode())
print(digest.hexdigest())
"""

TORCHGEO = """
import hashlib
from torchgeo.samplers import RandomPatchSampler
import cogdex

coll = cogdex.load(LOCATION)
ds = coll.to_torchgeo_dataset(["B04", "B08"], crs=32643, res=10.0, resampling="bilinear")
digest = hashlib.sha256()
for chip in RandomPatchSampler(ds, size=48, length=6, generator=3):
    sample = ds[chip]
    digest.update(sample["image"].numpy().tobytes())
print(digest.hexdigest())
"""


def _digest(body: str, location: str, first: str) -> str:
    script = f"{first}\nLOCATION = {location!r}\n{textwrap.dedent(body)}"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()[-1]


@pytest.mark.parametrize("body", [READS, TORCHGEO], ids=["get_numpy+sample_points", "torchgeo"])
def test_reads_are_identical_with_and_without_rasterio_imported_first(pixel_coll, body):
    location = str(pixel_coll.location)
    plain = _digest(body, location, "")
    after_rasterio = _digest(body, location, "import rasterio, pyproj  # noqa: F401")
    assert plain == after_rasterio
