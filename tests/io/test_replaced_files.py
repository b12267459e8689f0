"""A file replaced after its header was read (indexed or opened) is an error, never a mix.

Before the size check, a read after the replacement took the tiles it had cached from the
old file and fetched the rest from the new one at the old header's offsets: an array
holding pixels of two files, without an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin

import cogdex
from cogdex.errors import ObjectChangedError, TruncatedTIFF
from cogdex.io import fetch
from cogdex.testing.range_server import RangeServer


def _write(path: Path, seed: int, extra_tag: int = 0) -> np.ndarray:
    """An uncompressed tiled scene: a rewrite with other values has the same layout, and its
    tiles the same offsets, so only the object's size tells it apart (`extra_tag` bytes)."""
    data = np.random.default_rng(seed).integers(1, 5000, (1, 512, 512), dtype=np.uint16)
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": from_origin(500_000, 4_000_000, 10, 10),
               "tiled": True, "blockxsize": 128, "blockysize": 128}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if extra_tag:
            ds.update_tags(NOTE="x" * extra_tag)
    return data


@pytest.fixture(params=["local", "http"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(folder, the URL of folder/scene.tif) on a local path or behind an HTTP Range server."""
    if request.param == "local":
        yield tmp_path, str(tmp_path / "scene.tif")
        return
    with RangeServer(tmp_path) as server:
        yield tmp_path, f"{server.url}/scene.tif"


def test_a_file_replaced_after_open_is_an_error_not_a_mix(where):
    folder, url = where
    old = _write(folder / "scene.tif", seed=1)
    image = cogdex.open(url)
    np.testing.assert_array_equal(image.read(window=(0, 0, 128, 128)), old[:, :128, :128])
    new = _write(folder / "scene.tif", seed=2, extra_tag=4096)  # same tile offsets, more bytes
    with fetch.recording() as rec, pytest.raises(ObjectChangedError, match="changed since"):
        image.read(window=(0, 0, 256, 256))  # a cached tile and three new ones
    assert rec.retries == 0
    assert np.array_equal(image.read(window=(0, 0, 128, 128)), old[:, :128, :128])  # cache
    np.testing.assert_array_equal(cogdex.open(url).read(), new)  # opened again: the new file


def test_a_collection_read_after_its_file_was_replaced_is_an_error(tmp_path):
    path = tmp_path / "scene.tif"
    old = _write(path, seed=1)
    table = pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [str(path)]})
    pq.write_table(table, tmp_path / "t.parquet")
    coll = cogdex.build_from_table(tmp_path / "t.parquet", name="replaced",
                                   cache_dir=tmp_path / "cache")  # fmt: skip
    aoi = (15.0001, 36.1255, 15.0040, 36.1299)
    first = coll.get_numpy(aoi, ["data"])
    assert np.isin(first, old).all()
    _write(path, seed=2, extra_tag=4096)
    with pytest.raises(ObjectChangedError, match=str(path)):
        coll.get_numpy((15.0001, 36.1200, 15.0100, 36.1299), ["data"])
    _write(path, seed=2, extra_tag=0)  # a shorter file: truncated, as a cut file is
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(TruncatedTIFF):
        coll.get_numpy((15.0001, 36.1200, 15.0100, 36.1299), ["data"])


def test_a_file_replaced_after_open_is_an_error_on_a_callers_own_loop(where):
    """A caller's `asyncio.run` reads through the I/O threads, not cogdex's loop: the same
    size check holds there."""
    import asyncio

    folder, url = where
    old = _write(folder / "scene.tif", seed=1)

    async def first() -> tuple[object, np.ndarray]:
        image = await cogdex.open_async(url)
        return image, await image.read_async(window=(0, 0, 128, 128))

    image, got = asyncio.run(first())
    np.testing.assert_array_equal(got, old[:, :128, :128])
    _write(folder / "scene.tif", seed=2, extra_tag=4096)
    with pytest.raises(ObjectChangedError, match="changed since"):
        asyncio.run(image.read_async(window=(0, 0, 256, 256)))  # type: ignore[attr-defined]
