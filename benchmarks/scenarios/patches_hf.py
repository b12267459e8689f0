"""Hugging Face `datasets`: stream the wanted patches from the local Parquet, decode each.

`load_dataset("parquet", streaming=True, filters=...)` over local files only
(HF_DATASETS_OFFLINE=1), each GeoTIFF payload decoded with rasterio's MemoryFile.
"""

from __future__ import annotations

import os
import sys

os.environ["HF_DATASETS_OFFLINE"] = "1"
# The lab's env.sh exports AWS credentials for its S3 emulator; with them in the environment
# rasterio builds a boto3 session for every dataset opened outside a rasterio.Env (every
# payload here; every file a pool thread opens), which a user reading HTTP does not pay.
for name in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[name]
sys.path.insert(0, os.path.dirname(__file__))
import datasets  # noqa: E402
from common import digest, report  # noqa: E402
from patches_common import PATCHES, wanted  # noqa: E402
from rasterio.io import MemoryFile  # noqa: E402

keys, _ = wanted()
stream = datasets.load_dataset(
    "parquet",
    data_files=str(PATCHES / "patches.parquet"),
    split="train",
    streaming=True,
    filters=[("key", "in", keys)],
)
patches = {}
for row in stream:
    with MemoryFile(row["B04"]) as mem, mem.open() as src:
        patches[row["key"]] = src.read(1)
if sorted(patches) != keys:
    raise SystemExit(f"{len(patches)} patches streamed, {len(keys)} wanted")
arrays = [patches[k] for k in keys]
report(tool=f"datasets {datasets.__version__}", patches=len(arrays), digest=digest(arrays))
