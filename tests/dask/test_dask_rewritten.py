"""Dask tasks carry the version of each file with its header: a COG rewritten in place with
the same size is `ObjectChangedError` on a worker, and a worker's tile cache never serves
the old file's tiles to a collection built from the new one."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin

import cogdex
from cogdex.errors import ObjectChangedError

PROFILE = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint16",
           "crs": "EPSG:32633", "transform": from_origin(500_000, 4_000_000, 10, 10),
           "tiled": True, "blockxsize": 128, "blockysize": 128}  # fmt: skip
PIXELS = [(5, 7), (40, 90)]  # (row, col) in the first tile
OTHER_PIXELS = [(400, 450)]  # in a tile no call read before the rewrite


def _scene(path: Path, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).integers(1, 5000, (1, 512, 512), dtype=np.uint16)
    with rasterio.open(path, "w", **PROFILE) as ds:
        ds.write(data)
    return data


def _points(pixels: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    xs = np.array([500_000 + 10 * c + 5 for _, c in pixels], float)
    ys = np.array([4_000_000 - 10 * r - 5 for r, _ in pixels], float)
    return xs, ys


def _build(tmp_path: Path, path: Path) -> cogdex.Collection:
    pq.write_table(pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [str(path)]}),
                   tmp_path / "t.parquet")  # fmt: skip
    return cogdex.build_from_table(tmp_path / "t.parquet", name="rewritten-dask",
                                   cache_dir=tmp_path / "cache", force=True)  # fmt: skip


def test_worker_reads_of_a_same_size_rewrite(dask_client, tmp_path):
    path = tmp_path / "scene.tif"
    old = _scene(path, seed=1)
    coll = _build(tmp_path, path)
    got = coll.sample_points(_points(PIXELS), "data", geometry_crs=32633, client=dask_client)
    assert got.column("value").to_pylist() == [int(old[0, r, c]) for r, c in PIXELS]
    stat = path.stat()
    new = _scene(path, seed=2)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert path.stat().st_size == stat.st_size
    with pytest.raises(ObjectChangedError, match="changed since"):
        coll.sample_points(_points(OTHER_PIXELS), "data", geometry_crs=32633, client=dask_client)
    rebuilt = _build(tmp_path, path)
    got = rebuilt.sample_points(_points(PIXELS), "data", geometry_crs=32633, client=dask_client)
    assert got.column("value").to_pylist() == [int(new[0, r, c]) for r, c in PIXELS]
