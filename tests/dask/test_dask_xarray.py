"""Lazy `get_xarray(..., chunks=...)` computed on a 2-process LocalCluster: equal to the eager
read bit for bit (plain, mosaicked, warped, with gaps); every tile byte fetched by cogdex on
the workers; task graphs that hold only what their chunks read (no other index rows, no
secret, no signature); chunks on the files' tiles, so no tile is fetched twice."""

from __future__ import annotations

import contextvars
import copy
import gc
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely
import xarray as xr
from distributed import Client
from distributed.protocol.pickle import dumps

import cogdex
from cogdex.errors import StoreError
from cogdex.io import fetch
from cogdex.read.tilecache import tile_cache
from cogdex.testing import RangeServer
from cogdex_xarray import secret_options
from tests.servers.scenes import AOI_LONLAT, SceneSet, StacFiles

BANDS = ["B04", "B08"]
LON, LAT = AOI_LONLAT
WIDE = (LON - 0.05, LAT - 0.03, LON + 0.05, LAT + 0.03)  # several 512 px tiles, both zones
BEYOND = (LON - 0.08, LAT - 0.07, LON + 0.06, LAT + 0.07)  # past the scenes' edges: gaps
SIGNATURE = "sig=xarray-dask-signature-3c1d"


@pytest.fixture(scope="module")
def server(scenes: SceneSet, server_logs) -> Iterator[RangeServer]:
    """The scenes over a Range server that logs each request, for this module alone."""
    with RangeServer(scenes.root, server_logs / "dask-xarray-http.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def coll(stac_files: StacFiles, server: RangeServer, tmp_path_factory) -> cogdex.Collection:
    """B04 and B08 of the 8 scenes (two UTM zones, two scenes a date), hrefs on `server`,
    built from items whose hrefs carry a signature (the index keeps them without)."""
    items = copy.deepcopy(stac_files.items)
    for item in items:
        for asset in item["assets"].values():
            base = asset["href"].replace(stac_files.base_url, server.url)
            asset["href"] = f"{base}?{SIGNATURE}&se=2030-01-01"
    return cogdex.build_from_items(
        items, name="lazy", bands=BANDS, cache_dir=tmp_path_factory.mktemp("lazy-cache")
    )


def _fresh(client: Client) -> None:
    """No tile cached in this process or on a worker."""
    tile_cache().clear()
    client.run(lambda: tile_cache().clear())


def _requests(client: Client) -> int:
    return sum(client.run(lambda: fetch.stats().requests).values())


def _on_cluster(client: Client, lazy: xr.Dataset, server: RangeServer) -> xr.Dataset:
    """`lazy` computed on the cluster: every request the server sees comes from cogdex's
    fetch on a worker (GDAL's would not count there), none from this process."""
    _fresh(client)
    server.clear_log()
    here, there = fetch.stats().requests, _requests(client)
    computed = client.compute(lazy).result()
    assert fetch.stats().requests == here
    made = _requests(client) - there
    assert made > 0 and made == len(server.requests)
    return computed


def _assert_equal(computed: xr.Dataset, eager: xr.Dataset) -> None:
    xr.testing.assert_identical(computed, eager)
    for band in BANDS:
        assert computed[band].dtype == eager[band].dtype
        np.testing.assert_array_equal(computed[band].to_numpy(), eager[band].to_numpy())


CASES = {
    # one zone: every record on the grid's lattice, read as windows
    "single-crs": (32643, WIDE, {}, {"time": 2}),
    # both records of a date merged into one step; the other zone's warped into it
    "mosaic": (None, WIDE, {"merge": "first"}, {"time": 2}),
    # every record warped onto a grid of its own, in plain blocks that fit no tile lattice
    "warped": (None, WIDE, {"crs": 3857, "resolution": 12.0, "resampling": "bilinear",
                            "dtype": "float32"}, {"time": 3, "y": 300, "x": 350}),
    # past the scenes' edges and their nodata corners: the fill where no record has data
    "gaps": (None, BEYOND, {"merge": "max", "fill_value": 7}, {"time": 1, "y": 1024}),
}  # fmt: skip


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a gap is the fill, not numpy's warning
@pytest.mark.parametrize("case", list(CASES))
def test_compute_on_the_cluster_equals_the_eager_read(dask_client, coll, server, case):
    zone, aoi, options, chunks = CASES[case]
    source = coll.where(pc.field("epsg") == zone) if zone else coll
    eager = source.get_xarray(aoi, BANDS, **options)
    lazy = source.get_xarray(aoi, BANDS, chunks=chunks, **options)
    assert lazy["B04"].data.npartitions > 1
    computed = _on_cluster(dask_client, lazy, server)
    _assert_equal(computed, eager)
    if case == "mosaic":
        assert all("," in i for i in eager["id"].to_numpy())  # two records a step
    if case == "gaps":
        assert (eager["B04"] == 7).any() and (eager["B04"] != 7).any()


def test_tile_aligned_chunks_fetch_each_tile_once(dask_client, coll, server):
    """Chunks cut at the files' 512 px tiles: the workers together fetch no byte twice, and
    the bytes of the eager read (to its merging of near ranges); where chunks straddle
    tiles, both workers fetch the tiles they share."""
    zone43 = coll.where(pc.field("epsg") == 32643)
    tile_cache().clear()
    server.clear_log()
    eager = zone43.get_xarray(WIDE, BANDS)
    once = server.bytes_sent
    aligned = zone43.get_xarray(WIDE, BANDS, chunks={"time": 1})
    offset = round((aligned.x[0].item() - 5 - _record_x0(zone43, aligned)) / 10)
    edges = np.cumsum(aligned["B04"].data.chunks[2])[:-1] + offset
    assert len(edges) and (edges % 512 == 0).all()
    _assert_equal(_on_cluster(dask_client, aligned, server), eager)
    assert _twice(server) == 0 and abs(server.bytes_sent - once) < 0.001 * once
    # ask for 300 px: rounded up to whole tiles, still on their edges
    assert zone43.get_xarray(WIDE, BANDS, chunks={"x": 300})["B04"].data.chunks[2][1] == 512
    # a 9 m grid: no tile lattice to follow, plain 512 px blocks that straddle the tiles
    across = zone43.get_xarray(WIDE, BANDS, crs=32643, resolution=9.0, chunks={"time": 1})
    _on_cluster(dask_client, across, server)
    assert _twice(server) > 0


def _twice(server: RangeServer) -> int:
    """Bytes the server sent more than once (of any file)."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for request in server.requests:
        start, _, end = (request.range or "").removeprefix("bytes=").partition("-")
        seen.setdefault(request.path, []).append((int(start), int(end) + 1))
    again = 0
    for ranges in seen.values():
        reach = 0
        for start, stop in sorted(ranges):
            again += max(0, min(stop, reach) - start)
            reach = max(reach, stop)
    return again


def _record_x0(coll: cogdex.Collection, ds: xr.Dataset) -> float:
    src = coll.band_source("B04")
    return float(src.transform[src.ids.index(str(ds["id"][0].item()))][2])


def _unrelated(coll: cogdex.Collection, copies: int) -> cogdex.Collection:
    """`coll` and `copies` more of each of its rows, footprints moved 10 degrees east: rows
    a read over the AOI never touches."""
    table = coll.to_arrow()
    moved = []
    for k in range(copies):
        copy_k = table.set_column(
            table.schema.get_field_index("id"), "id",
            pc.binary_join_element_wise(table.column("id"), pa.scalar(f"-{k}"), ""),
        )  # fmt: skip
        shapes = shapely.from_wkb(copy_k.column("geometry").to_numpy(zero_copy_only=False))
        shifted = shapely.transform(shapes, lambda xy: np.add(xy, [10.0, 0.0]))
        copy_k = copy_k.set_column(
            copy_k.schema.get_field_index("geometry"), "geometry",
            pa.array(shapely.to_wkb(shifted), pa.binary()),
        )  # fmt: skip
        bbox = copy_k.column("bbox").combine_chunks()
        fields = {f.name: bbox.field(f.name) for f in bbox.type}
        for name in ("xmin", "xmax"):
            fields[name] = pc.add(fields[name], 10.0)
        copy_k = copy_k.set_column(
            copy_k.schema.get_field_index("bbox"), "bbox",
            pa.StructArray.from_arrays(list(fields.values()), names=list(fields)),
        )  # fmt: skip
        moved.append(copy_k)
    return cogdex.as_collection(pa.concat_tables([table, *moved]), "big")


def _graph_bytes(ds: xr.Dataset) -> int:
    return len(dumps(dict(ds.__dask_graph__())))


def test_graph_holds_only_what_its_chunks_read(dask_client, coll, server):
    """A graph over 2,000 rows of which the read touches 8 is the size of the one over
    those 8 alone (a graph of the whole index would carry every row's header)."""
    big = _unrelated(coll, 249)
    assert len(big) == 2000
    options = {"merge": "first", "crs": 32643, "resolution": 10.0}
    small = coll.get_xarray(WIDE, BANDS, chunks={"time": 2}, **options)
    lazy = big.get_xarray(WIDE, BANDS, chunks={"time": 2}, **options)
    assert _graph_bytes(lazy) <= _graph_bytes(small) * 1.01
    per_task = _graph_bytes(lazy) / lazy["B04"].data.npartitions
    assert per_task < 10_000  # a chunk's slots, windows and 2 bands x 2 headers
    _assert_equal(_on_cluster(dask_client, lazy, server), coll.get_xarray(WIDE, BANDS, **options))


def test_mosaic_chunks_carry_only_the_records_that_reach_them(coll):
    """A chunk of one zone's side of the mosaic holds that zone's record of each date; one
    on the seam holds both."""
    lazy = coll.get_xarray(WIDE, BANDS, merge="first", chunks={"time": 1, "y": 512, "x": 512})
    graph = dict(lazy["B04"].data.__dask_graph__())
    tasks = [v[1] for k, v in graph.items() if isinstance(k, tuple) and k[0].startswith("cogdex")]
    records = {len(t.sources[0].rows) for t in tasks}
    assert records == {1, 2}, records
    assert all(len(s.rows) <= 2 for t in tasks for s in t.slots)


def test_secrets_reach_the_workers_not_the_graph(
    dask_client, stac_files, s3_server, payloads, tmp_path
):
    """The requester-pays bucket opens only with the keys of `store_options` (no AWS
    variables here): the workers had them, no task carried them, nor a signature."""
    secret = "xarray-dask-secret-key-71af"
    options = {**s3_server.options, "secret_access_key": secret, "request_payer": True}
    assert not os.environ.get("AWS_ACCESS_KEY_ID")
    coll = cogdex.build_from_table(
        stac_files.items_parquet, name="s3-lazy", bands=BANDS, cache_dir=tmp_path,
        href_rewrites={stac_files.base_url: f"s3://{s3_server.requester_pays_bucket}"},
        store_options=options,
    )  # fmt: skip
    eager = coll.get_xarray(WIDE, BANDS, merge="first")
    with dask_client.as_current():
        lazy = coll.get_xarray(WIDE, BANDS, merge="first", chunks={"time": 2})
    graph = dumps(dict(lazy.__dask_graph__()))
    assert secret.encode() not in graph and b"secret_access_key" not in graph
    _fresh(dask_client)
    _assert_equal(dask_client.compute(lazy).result(), eager)
    assert payloads and not any(secret.encode() in p for p in payloads)
    # other secrets, given with no client current, never reached the workers: a clear
    # error before any request
    other = {**options, "secret_access_key": f"{secret}-other"}
    orphan = cogdex.load(coll.location, store_options=other).get_xarray(
        WIDE, BANDS, merge="first", chunks={"time": 2}
    )
    _fresh(dask_client)
    with pytest.raises(StoreError, match="as_current"):
        dask_client.compute(orphan).result()


def test_signed_hrefs_never_travel(coll):
    lazy = coll.get_xarray(WIDE, BANDS, merge="first", chunks={"time": 2})
    graph = dumps(dict(lazy.__dask_graph__()))
    assert b"B04.tif" in graph  # the hrefs are there, without their query strings
    assert SIGNATURE.encode() not in graph and b"se=2030" not in graph


def test_a_credential_provider_object_is_refused_on_a_cluster(dask_client, coll):
    """It would have to be pickled to reach the workers: refused with the same error whether
    a client is current when the Dataset is made (then) or not (when a worker runs it);
    the Dataset made without a client computes in this process."""
    options = {"credential_provider": lambda: {"token": "x"}}
    provided = cogdex.load(coll.location, store_options=options)
    with dask_client.as_current(), pytest.raises(StoreError, match="credential_provider") as early:
        provided.get_xarray(WIDE, BANDS, chunks={"time": 2})
    lazy = provided.get_xarray(WIDE, BANDS, chunks={"time": 2})
    assert lazy["B04"].data.npartitions > 1
    with pytest.raises(StoreError, match="credential_provider") as late:
        dask_client.compute(lazy).result()
    assert str(late.value) == str(early.value)
    with pytest.raises(StoreError, match="credential_provider"), dask_client.as_current():
        lazy.compute()


SMALL = (LON - 0.004, LAT - 0.004, LON + 0.004, LAT + 0.004)  # one tile of each zone


@pytest.fixture(scope="module")
def s3_coll(stac_files, s3_server, tmp_path_factory) -> tuple[cogdex.Collection, dict]:
    """The scenes in the requester-pays bucket, opened only with the store options' keys
    (moto takes any secret key), and those options."""
    options = {**s3_server.options, "secret_access_key": "lifecycle-0", "request_payer": True}
    coll = cogdex.build_from_table(
        stac_files.items_parquet, name="s3-lifecycle", bands=BANDS,
        cache_dir=tmp_path_factory.mktemp("s3-lifecycle"),
        href_rewrites={stac_files.base_url: f"s3://{s3_server.requester_pays_bucket}"},
        store_options=options,
    )  # fmt: skip
    return coll, options


def _read_plugins(client: Client) -> tuple[list[str], list[str]]:
    """The lazy reads' secret plugins: the scheduler's list, and every worker's."""
    on_scheduler = client.run_on_scheduler(
        lambda dask_scheduler: [n for n in dask_scheduler.worker_plugins if "cogdex-read" in n]
    )
    on_workers = client.run(
        lambda dask_worker: [n for n in dask_worker.plugins if "cogdex-read" in str(n)]
    )
    return on_scheduler, [n for names in on_workers.values() for n in names]


def _until_gone(client: Client, before: set[str]) -> None:
    """Wait (at most 30 s) until the lazy reads' secrets held here, on the scheduler and on
    the workers are those held `before` (other tests' Datasets may live on, in a traceback
    that a failed Dask future keeps)."""
    deadline = time.monotonic() + 30
    while True:
        gc.collect()
        on_scheduler, on_workers = _read_plugins(client)
        here = set(secret_options.names())
        if here <= before and set(on_scheduler) <= before and set(on_workers) <= before:
            return
        assert time.monotonic() < deadline, (here - before, on_scheduler, on_workers)
        time.sleep(0.1)


def test_the_secrets_leave_with_the_last_dataset_that_needs_them(dask_client, s3_coll):
    """Each Dataset of other secrets adds a worker plugin; when it is closed, or garbage
    with every array made from it, the plugin leaves the scheduler and the workers, and the
    options leave this process, so many Datasets never pile up secrets. A persisted Dataset
    keeps them until its tasks have run."""
    coll, options = s3_coll
    eager = coll.get_xarray(SMALL, BANDS, merge="first")
    before = set(secret_options.names())
    for k in range(4):
        keyed = cogdex.load(
            coll.location, store_options={**options, "secret_access_key": f"lifecycle-{k}"}
        )
        with dask_client.as_current():
            lazy = keyed.get_xarray(SMALL, BANDS, merge="first", chunks={"time": 2})
        ndvi = lazy["B08"] - lazy["B04"]  # a derived array holds the secrets too
        assert len(set(_read_plugins(dask_client)[0]) - before) == 1
        if k == 0:
            lazy.close()  # as a file's: done with it, and what was made from it
            _until_gone(dask_client, before)
            continue
        _assert_equal(dask_client.compute(lazy).result(), eager)
        del lazy
        gc.collect()
        assert set(secret_options.names()) - before and set(_read_plugins(dask_client)[0]) - before
        _fresh(dask_client)
        assert dask_client.compute(ndvi).result().equals(eager["B08"] - eager["B04"])
        del ndvi
        _until_gone(dask_client, before)
    with dask_client.as_current():
        persisted = coll.get_xarray(SMALL, BANDS, merge="first", chunks={"time": 1}).persist()
        gc.collect()  # the Dataset is gone; its tasks may still be running
        _assert_equal(persisted.compute(), eager)
    del persisted
    _until_gone(dask_client, before)


def test_concurrent_opens_share_their_secrets(dask_client, s3_coll):
    """Lazy Datasets made at once on 8 threads, with two sets of secrets: one plugin for
    each set, every Dataset reads, and all leave together."""
    coll, options = s3_coll
    eager = coll.get_xarray(SMALL, BANDS, merge="first")
    keyed = [
        cogdex.load(coll.location, store_options={**options, "secret_access_key": f"c-{k}"})
        for k in range(2)
    ]
    before = set(secret_options.names())

    def open_one(k: int) -> xr.Dataset:
        return keyed[k % 2].get_xarray(SMALL, BANDS, merge="first", chunks={"time": 2})

    # the client is current in each thread through a copy of this context (`as_current` on
    # several threads at once would race on dask's global config)
    with dask_client.as_current(), ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(contextvars.copy_context().run, open_one, k) for k in range(16)]
        opened = [f.result() for f in futures]
    assert len(set(secret_options.names()) - before) == 2
    on_scheduler, on_workers = (set(names) - before for names in _read_plugins(dask_client))
    assert len(on_scheduler) == 2 and on_workers == on_scheduler
    _fresh(dask_client)
    for computed in dask_client.gather(dask_client.compute(opened)):
        _assert_equal(computed, eager)
    del futures, opened, computed
    _until_gone(dask_client, before)
