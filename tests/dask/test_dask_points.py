"""sample_points with `client=` (or Dask points) on a 2-process LocalCluster equals the local
call: same rows in the same order, dtypes, values and fills; each tile is fetched by one task
cluster-wide; a worker killed mid-call costs a rerun, never a difference; no secret travels
in a task."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

import dask.config
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import cogdex
from cogdex import plugins
from cogdex.errors import EmptyReadWarning, MissingPluginError
from cogdex.testing import RangeServer
from tests.dask.conftest import KillOnce, wait_for_both_workers
from tests.servers.scenes import AOI_LONLAT, SceneSet

BANDS = ["B04", "B08", "stack:2", "stack:3"]  # two single-band files and two samples of one
LON, LAT = AOI_LONLAT


@pytest.fixture(scope="module")
def range_server(scenes: SceneSet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The scenes on a Range server that logs each request's range, for this module only."""
    with RangeServer(scenes.root, tmp_path_factory.mktemp("logs") / "points.log") as server:
        yield server


@pytest.fixture(scope="module")
def coll(stac_files: Any, range_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The scenes (two UTM zones, nodata corners) with their files on `range_server`."""
    return cogdex.build_from_stac(
        stac_files.items_json,
        name="points",
        bands=BANDS,
        href_rewrites={stac_files.base_url: range_server.url},
        cache_dir=tmp_path_factory.mktemp("points-cache"),
    )


@pytest.fixture
def small_tasks() -> Iterator[None]:
    """Tasks of 2 tiles, so a call over a few dozen tiles has many tasks."""
    with dask.config.set({"cogdex.point-task-tiles": 2}):
        yield


def _points(n: int = 4000, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Points over both UTM zones and the scenes' nodata corners, and some outside every
    scene (and one NaN point): 15% miss."""
    rng = np.random.default_rng(seed)
    lon = LON + rng.uniform(-0.12, 0.12, n)
    lat = LAT + rng.uniform(-0.12, 0.12, n)
    out = rng.random(n) < 0.15
    lon[out] += 40.0
    lon[7] = np.nan
    return lon, lat


def _assert_same(dist: pa.Table, local: pa.Table) -> None:
    assert dist.schema == local.schema
    assert dist.num_rows == local.num_rows > 0
    for name in dist.column_names:  # rows, order, values; NaN (scaled nodata) bit for bit
        a, b = dist.column(name).combine_chunks(), local.column(name).combine_chunks()
        if name == "value":
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
        else:
            assert a.equals(b), name


def test_equals_local_call(dask_client, coll, small_tasks, payloads):
    lon, lat = _points()
    dist = coll.sample_points((lon, lat), BANDS, client=dask_client)
    local = coll.sample_points((lon, lat), BANDS)
    _assert_same(dist, local)
    assert len(payloads) >= 8  # many tasks, of 2 tiles
    assert set(dist.column("band").to_pylist()) == set(BANDS)
    values = np.asarray(dist.column("value"))
    assert (values == 0).any() and (values > 0).any()  # nodata corners kept their fill
    sampled = set(dist.column("point_id").to_pylist())
    assert 7 not in sampled and len(sampled) < len(lon) * 0.9  # NaN and far points: no rows
    epsg = {coll.header(i, "B04").georef.crs for i in set(dist.column("id").to_pylist())}
    assert len(epsg) == 2  # both UTM zones
    scaled = coll.sample_points((lon, lat), BANDS, scale=True, client=dask_client)
    _assert_same(scaled, coll.sample_points((lon, lat), BANDS, scale=True))
    assert np.isnan(np.asarray(scaled.column("value"))).any()


def test_a_filtered_collection_and_named_points(dask_client, coll, small_tasks):
    """A subset by date (sample_points has no time filter of its own) and an id column."""
    first = coll.to_arrow().column("datetime")[0].as_py()
    sub = coll.subset(date_range=(first, first + dt.timedelta(days=10)))
    assert 0 < len(sub) < len(coll)
    lon, lat = _points(500, seed=3)
    table = pa.table({"x": lon, "y": lat, "name": [f"p{i}" for i in range(len(lon))]})
    dist = sub.sample_points(table, ["B08", "stack:3"], id_column="name", client=dask_client)
    _assert_same(dist, sub.sample_points(table, ["B08", "stack:3"], id_column="name"))
    assert dist.column("point_id").type == pa.string()


def test_dask_dataframe_of_points(dask_client, coll, small_tasks):
    """Dask points use the current client; they equal the same points given locally."""
    lon, lat = _points(1500, seed=5)
    frame = pd.DataFrame({"lon": lon, "lat": lat, "name": np.arange(len(lon)) * 3})
    points = dd.from_pandas(frame, npartitions=3)
    args = {"x_column": "lon", "y_column": "lat", "id_column": "name"}
    with dask_client.as_current():
        dist = coll.sample_points(points, "B04", **args)
        explicit = coll.sample_points(points, "B04", client="active", **args)
    local = coll.sample_points(pa.table(frame), "B04", **args)
    _assert_same(dist, local)
    _assert_same(explicit, local)
    assert set(dist.column("point_id").to_pylist()) <= set(frame["name"])


def _tiles(coll: Any, requests: list[Any]) -> dict[tuple[str, int], int]:
    """(file path, tile offset) -> how many requests covered that tile's bytes, over every
    tile of every file of `coll` (its bands' headers say where the tiles are)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for r in requests:
        first, last = re.fullmatch(r"bytes=(\d+)-(\d+)", r.range).groups()
        spans.setdefault(r.path, []).append((int(first), int(last) + 1))
    covered: dict[tuple[str, int], int] = {}
    for band in ("B04", "B08", "stack"):
        for i in range(len(coll)):
            path = f"/scenes/{coll.ids[i]}/{band}.tif"
            level = coll.header(i, "stack:2" if band == "stack" else band).levels[0]
            for offset, size in zip(level.tile_offsets, level.tile_byte_counts, strict=True):
                n = sum(a <= offset and offset + size <= b for a, b in spans.get(path, []))
                if n:
                    covered[(path, int(offset))] = n
    return covered


def test_each_tile_is_fetched_once_cluster_wide(dask_client, coll, range_server, small_tasks):
    """The workers fetch no header (the tasks carry them), no tile twice, and the tiles a
    local call fetches."""
    from cogdex.read.tilecache import tile_cache

    lon, lat = _points(3000, seed=17)
    dask_client.run(lambda: tile_cache().clear())  # what earlier tests left on the workers
    range_server.clear_log()
    coll.sample_points((lon, lat), BANDS, client=dask_client)
    dist = range_server.requests
    range_server.clear_log()
    tile_cache().clear()
    coll.sample_points((lon, lat), BANDS)
    local = range_server.requests
    assert all(r.range for r in dist) and len(dist) > 8
    dist_tiles = _tiles(coll, dist)
    assert set(dist_tiles.values()) == {1}  # each tile fetched once cluster-wide
    assert dist_tiles.keys() == _tiles(coll, local).keys()


def test_worker_killed_mid_sample_is_rerun(dask_client, coll, small_tasks, tmp_path):
    marker = tmp_path / "killed"
    pids = set(dask_client.run(os.getpid).values())
    lon, lat = _points(2000, seed=23)
    dask_client.register_plugin(KillOnce(marker, "cogdex-points-"), name="kill-once")
    try:
        dist = coll.sample_points((lon, lat), BANDS, client=dask_client)
    finally:
        dask_client.unregister_worker_plugin("kill-once")
    assert marker.exists()
    _assert_same(dist, coll.sample_points((lon, lat), BANDS))
    wait_for_both_workers(dask_client)  # the nanny's new worker, for the next test
    assert len(pids - set(dask_client.run(os.getpid).values())) == 1


def test_secrets_reach_workers_not_tasks(
    dask_client, stac_files, s3_server, small_tasks, payloads, tmp_path
):
    """The requester-pays bucket is read only with the keys of the store options (no AWS
    variables here): the workers had them, and no task carried them."""
    wait_for_both_workers(dask_client)  # both hold the secrets, whatever ran before
    secret = "dask-points-secret-key-77aa"
    options = {**s3_server.options, "secret_access_key": secret, "request_payer": True}
    assert not os.environ.get("AWS_ACCESS_KEY_ID")
    s3 = cogdex.build_from_table(
        stac_files.items_parquet,
        name="s3",
        bands=["B04"],
        href_rewrites={stac_files.base_url: f"s3://{s3_server.requester_pays_bucket}"},
        store_options=options,
        cache_dir=tmp_path,
    )
    lon, lat = _points(800, seed=29)
    dist = s3.sample_points((lon, lat), "B04", client=dask_client)
    _assert_same(dist, s3.sample_points((lon, lat), "B04"))
    assert payloads and not any(secret.encode() in p for p in payloads)
    held = dask_client.run(
        lambda dask_worker: [n for n in dask_worker.plugins if n.startswith("cogdex-secrets")]
    )
    assert len(held) == 2 and not any(held.values())  # the call's secrets left with it


def test_a_scheduler_address(dask_client, coll, small_tasks):
    """client= may name the scheduler, as a build's may: connected for the call only."""
    lon, lat = _points(1500, seed=5)
    address = dask_client.scheduler.address
    _assert_same(coll.sample_points((lon, lat), BANDS, client=address),
                 coll.sample_points((lon, lat), BANDS))  # fmt: skip
    frame = dd.from_pandas(pd.DataFrame({"x": lon, "y": lat}), npartitions=3)
    _assert_same(coll.sample_points(frame, BANDS, client=address),
                 coll.sample_points((lon, lat), BANDS))  # fmt: skip
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at {nowhere}"),
    ):
        coll.sample_points((lon, lat), BANDS, client=nowhere)


def test_points_outside_every_scene(dask_client, coll):
    far = (np.array([10.0, 11.0]), np.array([10.0, 11.0]))
    with pytest.warns(EmptyReadWarning, match="covers the points"):
        table = coll.sample_points(far, BANDS, client=dask_client)
    with pytest.warns(EmptyReadWarning):
        assert table.equals(coll.sample_points(far, BANDS)) and table.num_rows == 0


def test_client_that_is_no_client(dask_client, coll):
    points = (np.array([LON]), np.array([LAT]))
    with pytest.raises(TypeError, match=r"client= takes a dask\.distributed Client"):
        coll.sample_points(points, "B04", client=42)
    with pytest.raises(ValueError, match="needs a running Dask client"):
        coll.sample_points(points, "B04", client="active")  # `dask_client` is not current


def test_client_without_the_plugin_names_the_extra(coll):
    plugin = plugins.plugin_manager().get_plugin("dask")
    assert plugin is not None
    points = dd.from_pandas(pd.DataFrame({"x": [LON], "y": [LAT]}), npartitions=1)
    plugins.unregister(plugin)
    try:
        for call in ({"points": (np.array([LON]), np.array([LAT])), "client": "active"},
                     {"points": points}):  # fmt: skip
            with pytest.raises(MissingPluginError, match=re.escape('pip install "cogdex[dask]"')):
                coll.sample_points(bands="B04", **call)
    finally:
        plugins.register(plugin, name="dask")


def test_tasks_split_by_tile(coll):
    """Each tile in one task, every job in one task, a file's tiles together."""
    from cogdex.read.points import plan_points

    lon, lat = _points(3000, seed=31)
    table, sources = coll.read_inputs(BANDS)
    plan = plan_points(sources, lon, lat, list(range(len(table))), fill=0, dtype=np.uint16)
    tasks = plan.tasks(5)
    seen = [(t.urls[f], tile) for t in tasks for f, tile in zip(t.file, t.tile, strict=True)]
    assert len(seen) == len(set(seen)) == len({(r.source.url, r.tile) for r in plan.tiles})
    assert all(len(set(zip(t.file, t.tile, strict=True))) <= 5 for t in tasks)
    assert sorted(n for t in tasks for n in t.jobs.tolist()) == list(range(len(plan.jobs)))
    # tasks cut the plan's files in order: a file spans tasks only where one ends
    assert sum(len(t.urls) for t in tasks) <= len(tasks) + len({u for u, _ in seen}) - 1


def test_points_an_internal_mask_hides_equal_the_local_call(dask_client, small_tasks, tmp_path):
    """The mask tiles of a file with an internal mask are read by the tasks too: the points
    it hides hold the fill on the cluster as in the local call (and GDAL's mask)."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": from_origin(500_000, 4_000_000, 10, 10),
               "tiled": True, "blockxsize": 128, "blockysize": 128}  # fmt: skip
    rows, cols = np.mgrid[0:512, 0:512]
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(tmp_path / "m.tif", "w", **profile) as ds,
    ):
        ds.write(((rows * 512 + cols) % 60_000 + 1).astype(np.uint16)[None])  # never 0
        ds.write_mask(np.where(cols > rows, 255, 0).astype(np.uint8))
    table = pa.table({"id": ["m"], "datetime": ["2024-01-01"], "href": [str(tmp_path / "m.tif")]})
    masked = cogdex.build_from_table(table, name="masked", cache_dir=tmp_path / "cache")
    rng = np.random.default_rng(5)
    r, c = rng.integers(0, 512, 500), rng.integers(0, 512, 500)
    x, y = 500_000 + 10 * (c + 0.5), 4_000_000 - 10 * (r + 0.5)
    local = masked.sample_points((x, y), "data", geometry_crs=32633)
    _assert_same(masked.sample_points((x, y), "data", geometry_crs=32633, client=dask_client),
                 local)  # fmt: skip
    want = np.where(c > r, (r * 512 + c) % 60_000 + 1, 0)
    np.testing.assert_array_equal(np.asarray(local.column("value")), want)
