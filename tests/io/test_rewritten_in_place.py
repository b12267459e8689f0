"""A COG rewritten in place with the same size (a reprocessed scene: same tiling, new pixels)
is an error at the first GET of its pixels, never read silently.

Before the version check, only the object's size was compared: such a rewrite gave the new
pixels under the old metadata, or a read mixing tiles cached from the old file with tiles of
the new one. Each store gives a version of its own: a local file's is its mtime and size
(object_store's ETag for it also holds the inode, which a copy that keeps the mtime
changes), nginx's and the Range server's from mtime and size, moto's from the
content's MD5, Azurite's changes with every put.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin

import cogdex
from cogdex.errors import ObjectChangedError
from cogdex.io import fetch, runtime
from cogdex.read.tilecache import tile_cache
from cogdex.testing.range_server import RangeHandler, RangeServer
from tests.servers.nginx import start_nginx

PROFILE = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint16",
           "crs": "EPSG:32633", "transform": from_origin(500_000, 4_000_000, 10, 10),
           "tiled": True, "blockxsize": 128, "blockysize": 128}  # fmt: skip
AOI = (15.0001, 36.1200, 15.0100, 36.1299)


def _scene(path: Path, seed: int) -> np.ndarray:
    """An uncompressed tiled scene: every seed gives a file of the same size and the same
    tile offsets, other pixels."""
    data = np.random.default_rng(seed).integers(1, 5000, (1, 512, 512), dtype=np.uint16)
    with rasterio.open(path, "w", **PROFILE) as ds:
        ds.write(data)
    return data


@dataclass
class Place:
    """Where a scene lives: its URL and store options, and how to rewrite it in place."""

    url: str
    options: dict
    rewrite: Callable[[int], np.ndarray]
    """Write the scene of this seed over the object, same size; returns its pixels."""


def _local_rewrite(path: Path) -> Callable[[int], np.ndarray]:
    def rewrite(seed: int) -> np.ndarray:
        before = path.stat()
        data = _scene(path, seed)
        # same size; a new mtime even on a coarse clock (nginx's ETag has whole seconds)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
        assert path.stat().st_size == before.st_size
        return data

    return rewrite


def _put_rewrite(store: object, key: str, tmp: Path) -> Callable[[int], np.ndarray]:
    def rewrite(seed: int) -> np.ndarray:
        data = _scene(tmp / f"{seed}.tif", seed)
        runtime.obstore().put(store, key, (tmp / f"{seed}.tif").read_bytes())
        return data

    return rewrite


@pytest.fixture(params=["local", "http", "nginx", "s3", "azure"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Place, np.ndarray]]:
    """(the place of a new scene, its pixels) on each kind of store."""
    kind = request.param
    old = _scene(tmp_path / "scene.tif", seed=1)
    if kind == "local":
        yield Place(str(tmp_path / "scene.tif"), {}, _local_rewrite(tmp_path / "scene.tif")), old
    elif kind == "http":
        with RangeServer(tmp_path) as server:
            rewrite = _local_rewrite(tmp_path / "scene.tif")
            yield Place(f"{server.url}/scene.tif", {}, rewrite), old
    elif kind == "nginx":
        executable = shutil.which("nginx")
        if executable is None:
            pytest.skip("nginx is not installed")
        logs = tmp_path / "nginx-logs"
        logs.mkdir()
        server = start_nginx(executable, tmp_path, logs)
        try:
            yield Place(f"{server.url}/scene.tif", {}, _local_rewrite(tmp_path / "scene.tif")), old
        finally:
            server.close()
    else:
        emulator = request.getfixturevalue("s3_server" if kind == "s3" else "azure_server")
        key = f"rewritten/{uuid.uuid4().hex}.tif"
        store = emulator.store()
        runtime.obstore().put(store, key, (tmp_path / "scene.tif").read_bytes())
        yield Place(emulator.url(key), emulator.options, _put_rewrite(store, key, tmp_path)), old


def test_a_same_size_rewrite_after_open_is_an_error_and_its_old_tiles_never_serve_the_new(
    place,
):
    where, old = place
    with fetch.recording() as rec:
        image = cogdex.open(where.url, **where.options)
    assert rec.requests == 1  # the version came with the header's GET
    if "://" in where.url:
        assert image.header.etag is not None
    else:  # a local file: its mtime
        assert image.header.etag is None and image.header.last_modified is not None
    np.testing.assert_array_equal(image.read(window=(0, 0, 128, 128)), old[:, :128, :128])
    new = where.rewrite(2)
    with pytest.raises(ObjectChangedError, match="changed since it was indexed") as caught:
        image.read(window=(0, 0, 256, 256))  # a cached tile and three from the new file
    assert "COGDEX_CHECK_VERSION=0" in str(caught.value)  # how to turn it off
    again = cogdex.open(where.url, **where.options)
    assert again.header.size == image.header.size
    # the tile cached from the old file is not this file's: the new header reads new pixels
    np.testing.assert_array_equal(again.read(window=(0, 0, 256, 256)), new[:, :256, :256])


def test_a_same_size_rewrite_is_an_error_on_a_callers_own_loop(place):
    """A caller's `asyncio.run` reads through the I/O threads (`_get_sized_range`), not
    cogdex's loop: the same check holds there."""
    where, old = place

    async def first() -> tuple[cogdex.GeoTIFF, np.ndarray]:
        image = await cogdex.open_async(where.url, **where.options)
        return image, await image.read_async(window=(0, 0, 128, 128))

    image, got = asyncio.run(first())
    np.testing.assert_array_equal(got, old[:, :128, :128])
    where.rewrite(2)
    with pytest.raises(ObjectChangedError, match="changed since"):
        asyncio.run(image.read_async(window=(128, 128, 128, 128)))


def _collection(tmp_path: Path, href: str, name: str = "rewritten") -> cogdex.Collection:
    table = pa.table({"id": ["a"], "datetime": ["2024-01-01"], "href": [href]})
    pq.write_table(table, tmp_path / "t.parquet")
    return cogdex.build_from_table(tmp_path / "t.parquet", name=name,
                                   cache_dir=tmp_path / "cache")  # fmt: skip


@pytest.fixture(params=["local", "http"])
def scene(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(the scene's path, its URL: the path, or behind an HTTP Range server)."""
    path = tmp_path / "scene.tif"
    if request.param == "local":
        yield path, str(path)
        return
    with RangeServer(tmp_path) as server:
        yield path, f"{server.url}/scene.tif"


def test_collection_reads_of_a_same_size_rewrite_are_errors(scene, tmp_path):
    """`get_numpy`, `sample_points` and a lazy xarray's compute, from the index."""
    path, href = scene
    old = _scene(path, seed=1)
    coll = _collection(tmp_path, href)
    header = coll.band_source("data").header(0)
    assert header.etag is not None if "://" in href else header.last_modified is not None
    assert np.isin(coll.get_numpy(AOI, ["data"]), old).all()
    lazy = coll.get_xarray(AOI, ["data"], chunks={"time": 1})
    lon, lat = np.array([15.001, 15.03]), np.array([36.10, 36.125])
    _local_rewrite(path)(2)
    tile_cache().clear()  # else the points and the chunk could be the cached old tiles
    with pytest.raises(ObjectChangedError, match="changed since"):
        coll.get_numpy(AOI, ["data"])
    with pytest.raises(ObjectChangedError, match="changed since"):
        coll.sample_points((lon, lat), ["data"])
    with pytest.raises(ObjectChangedError, match="changed since"):
        lazy.compute()


def test_a_torchgeo_sample_of_a_same_size_rewrite_is_an_error(tmp_path):
    """The old collection's next sample is an error; a collection built again reads the new
    pixels, though the process's tile cache holds the old file's tiles of that chip."""
    pytest.importorskip("cogdex_torchgeo")
    path = tmp_path / "scene.tif"
    old = _scene(path, seed=1)
    dataset = _collection(tmp_path, str(path)).to_torchgeo_dataset("data", crs=32633, res=10)
    chip = (slice(500_000, 501_280), slice(3_998_720, 4_000_000))  # the first tile
    np.testing.assert_array_equal(dataset[chip]["image"].numpy(), old[:, :128, :128])
    new = _local_rewrite(path)(2)
    rebuilt = _collection(tmp_path, str(path), name="rebuilt")
    again = rebuilt.to_torchgeo_dataset("data", crs=32633, res=10)
    np.testing.assert_array_equal(again[chip]["image"].numpy(), new[:, :128, :128])
    with pytest.raises(ObjectChangedError, match="changed since"):
        dataset[slice(501_280, 502_560), slice(3_998_720, 4_000_000)]  # the next tile


def _without_version(index: Path) -> None:
    """Rewrite an index file as cogdex wrote it before it kept the objects' versions: its
    headers without `etag` and `last_modified`."""
    table = pq.read_table(index)
    assets = table.column("assets").combine_chunks()
    children, fields = [], []
    for f in assets.type:
        asset = assets.field(f.name)
        header = asset.field("header")
        kept = [h for h in header.type if h.name not in ("etag", "last_modified")]
        header = pa.StructArray.from_arrays([header.field(h.name) for h in kept], fields=kept)
        parts = [header if g.name == "header" else asset.field(g.name) for g in asset.type]
        kinds = [pa.field(g.name, p.type) for g, p in zip(asset.type, parts, strict=True)]
        children.append(pa.StructArray.from_arrays(parts, fields=kinds))
        fields.append(pa.field(f.name, children[-1].type))
    old = table.set_column(
        table.schema.get_field_index("assets"),
        pa.field("assets", pa.struct(fields)),
        pa.StructArray.from_arrays(children, fields=fields),
    )
    pq.write_table(old, index)


def test_an_index_without_versions_loads_and_reads_with_the_size_check(tmp_path):
    path = tmp_path / "scene.tif"
    old = _scene(path, seed=1)
    coll = _collection(tmp_path, str(path))
    exported = coll.export(tmp_path / "index.parquet")
    _without_version(Path(exported))
    assert "etag" not in str(pq.read_schema(exported).field("assets").type)
    loaded = cogdex.load(exported)
    header = loaded.band_source("data").header(0)
    assert (header.etag, header.last_modified) == (None, None)
    tile_cache().clear()
    assert np.isin(loaded.get_numpy(AOI, ["data"]), old).all()
    # its exports carry the layout of today (null versions), and load again
    again = cogdex.load(loaded.export(tmp_path / "again.parquet"))
    header = again.band_source("data").header(0)
    assert (header.etag, header.last_modified) == (None, None)
    # so does such a table given to as_collection (an index reshaped elsewhere)
    table = pq.read_table(exported)
    reshaped = cogdex.as_collection(table, bands={"data": "data"})
    assert np.isin(reshaped.get_numpy(AOI, ["data"]), old).all()
    with rasterio.open(path, "r+") as ds:  # a larger file: the size check still holds
        ds.update_tags(NOTE="x" * 4096)
    tile_cache().clear()
    with pytest.raises(ObjectChangedError, match="bytes, not the"):
        loaded.get_numpy(AOI, ["data"])


def test_the_whole_object_path_checks_the_version(tmp_path, monkeypatch):
    """A server that ignores Range: each read is a whole-object GET (the object is larger
    than the whole-object cache here, so none is kept), checked like a range GET."""
    old = _scene(tmp_path / "scene.tif", seed=1)
    monkeypatch.setattr(fetch, "_whole", fetch._WholeObjects())
    monkeypatch.setattr(fetch, "_config", fetch.FetchConfig(whole_object_cache=100_000))
    with RangeServer(tmp_path, honour_range=False) as server:
        image = cogdex.open(f"{server.url}/scene.tif")
        np.testing.assert_array_equal(image.read(window=(0, 0, 128, 128)), old[:, :128, :128])
        _local_rewrite(tmp_path / "scene.tif")(2)
        with pytest.raises(ObjectChangedError, match="ETag"):
            image.read(window=(128, 128, 128, 128))


class _PerNodeETags(RangeHandler):
    """A load-balanced origin: each answer comes from another node, with its own ETag and
    Last-Modified for the same bytes."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword == "ETag":
            value = f'"{uuid.uuid4().hex}"'
        elif keyword == "Last-Modified":
            return
        super().send_header(keyword, value)


def test_the_check_can_be_turned_off_for_a_load_balanced_origin(tmp_path, monkeypatch):
    old = _scene(tmp_path / "scene.tif", seed=1)
    with RangeServer(tmp_path, handler=_PerNodeETags) as server:
        url = f"{server.url}/scene.tif"
        with pytest.raises(ObjectChangedError, match="COGDEX_CHECK_VERSION=0"):
            cogdex.open(url).read(window=(0, 0, 128, 128))
        monkeypatch.setenv("COGDEX_CHECK_VERSION", "0")
        monkeypatch.setattr(fetch, "_config", fetch.FetchConfig.from_env())
        tile_cache().clear()
        np.testing.assert_array_equal(
            cogdex.open(url).read(window=(0, 0, 128, 128)), old[:, :128, :128]
        )
        # off, only the size is compared: a larger file is still an error
        image = cogdex.open(url)
        with rasterio.open(tmp_path / "scene.tif", "r+") as ds:
            ds.update_tags(NOTE="x" * 4096)
        with pytest.raises(ObjectChangedError, match="bytes, not the"):
            image.read(window=(128, 128, 128, 128))


def test_last_modified_is_compared_where_the_store_gives_no_etag(tmp_path):
    class NoETag(RangeHandler):
        def send_header(self, keyword: str, value: str) -> None:
            if keyword != "ETag":
                super().send_header(keyword, value)

    old = _scene(tmp_path / "scene.tif", seed=1)
    with RangeServer(tmp_path, handler=NoETag) as server:
        image = cogdex.open(f"{server.url}/scene.tif")
        assert image.header.etag is None and image.header.last_modified is not None
        np.testing.assert_array_equal(image.read(window=(0, 0, 128, 128)), old[:, :128, :128])
        _local_rewrite(tmp_path / "scene.tif")(2)
        with pytest.raises(ObjectChangedError, match="modified at"):
            image.read(window=(128, 128, 128, 128))


def test_a_local_copy_that_keeps_the_mtime_reads_as_the_same_file(tmp_path):
    """A local file's version is its size and mtime, not object_store's inode-based ETag:
    a file copied with `rsync -a` or `cp -p` (a new inode, the same mtime), to another
    node or over the original, reads as indexed; a new mtime is still a new version."""
    path = tmp_path / "scene.tif"
    old = _scene(path, seed=1)
    coll = _collection(tmp_path, str(path))
    indexed = coll.band_source("data").header(0)
    assert indexed.etag is None and indexed.last_modified is not None
    shutil.copy2(path, tmp_path / "copy.tif")  # a new inode, the mtime kept to the ns
    os.replace(tmp_path / "copy.tif", path)
    tile_cache().clear()
    with fetch.recording() as rec:
        got = coll.get_numpy(AOI, ["data"])
    assert rec.requests and np.isin(got, old).all()  # its GETs passed the check
    np.testing.assert_array_equal(cogdex.open(str(path)).read(), old)
    _local_rewrite(path)(2)
    tile_cache().clear()
    with pytest.raises(ObjectChangedError, match="modified at"):
        coll.get_numpy(AOI, ["data"])


def test_a_remote_index_rewritten_during_its_download_is_an_error(tmp_path, monkeypatch):
    """The download's folder is named by the version the HEAD gave: a GET answering with
    another (here every answer is another node's) never saves its bytes there."""
    path = tmp_path / "scene.tif"
    _scene(path, seed=1)
    served = tmp_path / "served"
    served.mkdir()
    _collection(tmp_path, str(path)).export(served / "index.parquet")
    with RangeServer(served, handler=_PerNodeETags) as server:
        url = f"{server.url}/index.parquet"
        with pytest.raises(ObjectChangedError, match="changed while it was downloaded"):
            cogdex.load(url, cache_dir=tmp_path / "downloads")
        monkeypatch.setattr(fetch, "_config", fetch.FetchConfig(check_version=False))
        assert len(cogdex.load(url, cache_dir=tmp_path / "downloads")) == 1


class _NoValidators(RangeHandler):
    """An origin that sends neither ETag nor Last-Modified: nothing tells its versions apart
    but a new body."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword not in ("ETag", "Last-Modified"):
            super().send_header(keyword, value)


class _NoETag(RangeHandler):
    def send_header(self, keyword: str, value: str) -> None:
        if keyword != "ETag":
            super().send_header(keyword, value)


class _NoETagNoHead(_NoETag):
    """An origin with Last-Modified but no ETag that refuses HEAD (405)."""

    def do_HEAD(self) -> None:
        self.send_error(405)


@pytest.fixture
def kept_whole_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No whole body kept from an earlier test, and room to keep this test's."""
    monkeypatch.setattr(fetch, "_whole", fetch._WholeObjects())
    assert fetch.config().whole_object_cache >= 1 << 20


def test_a_fresh_open_reads_a_rewritten_file_not_the_whole_body_kept_from_before(
    tmp_path, kept_whole_bodies
):
    """A server that ignores Range: the first open keeps the whole body; once the file is
    rewritten in place, a fresh open (a header read, which knows no version to expect)
    reads the new file's header and pixels, and the old header's reads are errors."""
    path = tmp_path / "scene.tif"
    old = _scene(path, seed=1)
    with RangeServer(tmp_path, honour_range=False) as server:
        url = f"{server.url}/scene.tif"
        image = cogdex.open(url)
        np.testing.assert_array_equal(image.read(window=(0, 0, 128, 128)), old[:, :128, :128])
        new = _local_rewrite(path)(2)
        again = cogdex.open(url)
        assert again.header.etag != image.header.etag
        np.testing.assert_array_equal(again.read(), new)
        with pytest.raises(ObjectChangedError, match="changed since"):
            image.read(window=(128, 128, 128, 128))  # never the new body under the old header


# (server arguments; requests and whether the body moves for a fresh open of an unchanged
# file; requests for one of a rewritten file)
_REVALIDATIONS = {
    "etag": ({}, 1, False, 1),  # If-None-Match: 304, or the new body in the same answer
    "last-modified": ({"handler": _NoETag}, 1, False, 2),  # a HEAD, then the new body
    "ignores-if-none-match": ({"conditional": False}, 1, True, 1),  # 200 with the body
    "no-validators": ({"handler": _NoValidators}, 1, True, 1),  # the body fetched again
    "refuses-head": ({"handler": _NoETagNoHead}, 2, True, 2),  # the HEAD's 405, then the body
}


@pytest.mark.parametrize("origin", list(_REVALIDATIONS))
def test_a_kept_whole_body_is_revalidated_by_one_request_per_fresh_open_and_none_per_read(
    tmp_path, kept_whole_bodies, origin
):
    """What revalidating a kept whole body costs: one request per fresh open, which moves
    no body while the file is unchanged where the origin can say so (an ETag for
    `If-None-Match`, else a Last-Modified for a HEAD); reads that carry their header's
    version are served the kept body of that version with no request at all."""
    arguments, unchanged_requests, moves_body, rewritten_requests = _REVALIDATIONS[origin]
    path = tmp_path / "scene.tif"
    old = _scene(path, seed=1)
    size = path.stat().st_size
    with RangeServer(tmp_path, honour_range=False, **arguments) as server:
        url = f"{server.url}/scene.tif"
        image = cogdex.open(url)
        with fetch.recording() as rec:
            np.testing.assert_array_equal(image.read(), old)
        assert rec.requests == 0
        with fetch.recording() as rec:
            same = cogdex.open(url)
        assert same.header == image.header
        assert rec.requests == unchanged_requests
        assert rec.bytes == (size if moves_body else 0)
        new = _local_rewrite(path)(2)
        tile_cache().clear()  # the no-validators origin's two versions share one cache key
        with fetch.recording() as rec:
            again = cogdex.open(url)
        assert rec.requests == rewritten_requests
        with fetch.recording() as rec:
            np.testing.assert_array_equal(again.read(), new)
        assert rec.requests == 0
