"""Index builds with `client=` on a 2-process LocalCluster equal the local build of the same
source: rows, order, every header byte, metadata, the written file, warnings and errors;
a worker killed mid-build costs a retry of its part, never a difference; no secret or
signature travels in a task."""

from __future__ import annotations

import copy
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.config
import pytest
from distributed.protocol.pickle import dumps

import cogdex
from cogdex import plugins
from cogdex.errors import BuildError, MissingPluginError
from tests.dask.conftest import KillOnce, wait_for_both_workers
from tests.servers.scenes import COLLECTION

BANDS = ["B04", "B08"]
SIGNATURE = "sig=dask-test-signature-9f3c"


@pytest.fixture
def small_parts() -> Iterator[None]:
    """Parts of 4 items, so a build of a few dozen items has many parts."""
    with dask.config.set({"cogdex.build-part-items": 4}):
        yield


def _mixed_items(stac_files: Any, http_server: Any) -> list[dict[str, Any]]:
    """30 items over three years, signed hrefs, and each thing a build settles on all
    items: a duplicate id, a missing asset, a missing file, a STAC CRS that the file
    contradicts, no geometry, a property int in some items and float in others, one that
    only the last items have, a part (of 4) whose files are all missing."""
    out = []
    for i in range(30):
        item = copy.deepcopy(stac_files.items[i % len(stac_files.items)])
        item["id"] = f"{item['id']}-{i}"
        props = item["properties"]
        props["datetime"] = f"{2019 + i % 3}{props['datetime'][4:]}"
        props["count"] = i if i % 2 else float(i)
        if i >= 26:
            props["late"] = f"x{i}"
        for asset in item["assets"].values():
            asset["href"] += f"?{SIGNATURE}&se=2030-01-01"
        out.append(item)
    out[3]["assets"].pop("nir")  # B08
    out[7]["assets"]["red"]["href"] = f"{http_server.url}/scenes/none/B04.tif?{SIGNATURE}"
    out[11]["properties"].update({"proj:epsg": 32610, "proj:code": "EPSG:32610"})
    out[13]["geometry"] = None
    out[17]["properties"]["eo:cloud_cover"] = None
    for item in out[20:24]:  # a whole part without a row
        for asset in item["assets"].values():
            asset["href"] = asset["href"].replace("/scenes/", "/gone/")
    out.append(copy.deepcopy(out[5]))  # the same id again
    return out


def _built(call: Callable[..., cogdex.Collection], **kwargs: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coll = call(**kwargs)
    return coll, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _assert_same(dist: cogdex.Collection, local: cogdex.Collection) -> None:
    """The same rows in the same order, metadata, and written bytes."""
    a, b = dist.to_arrow(), local.to_arrow()
    assert a.schema == b.schema and a.equals(b)
    for field in a.column("assets").type:  # every header column, byte for byte
        pa_a = a.column("assets").combine_chunks().field(field.name).field("header")
        pa_b = b.column("assets").combine_chunks().field(field.name).field("header")
        assert pa_a.equals(pa_b)
    assert dist.metadata == local.metadata
    assert Path(dist.location).read_bytes() == Path(local.location).read_bytes()


def test_items_build_equals_local_build(
    dask_client, stac_files, http_server, small_parts, payloads, tmp_path
):
    items = _mixed_items(stac_files, http_server)
    args = {"items": items, "name": "mixed", "bands": BANDS}
    dist, dist_warned = _built(
        cogdex.build_from_items, **args, cache_dir=tmp_path / "d", client=dask_client
    )
    local, local_warned = _built(cogdex.build_from_items, **args, cache_dir=tmp_path / "l")
    _assert_same(dist, local)
    assert dist_warned == local_warned and len(dist_warned) == 1  # the CRS the file contradicts
    assert {s["reason"].split(":")[0] for s in dist.skipped} >= {
        "duplicate id",
        "no such asset",
        "NotFoundError",
        "no readable asset",
    }
    assert len(dist) == 26
    assert len({y // 10000 for y in _years(dist)}) == 1 and len(set(_years(dist))) == 3
    assert len(payloads) >= 8  # 30 items in parts of 4
    assert not any(SIGNATURE.encode() in p for p in payloads)
    assert not any(b"se=2030" in p for p in payloads)


def _years(coll: cogdex.Collection) -> list[int]:
    return [t.year for t in coll.to_arrow().column("datetime").to_pylist()]


def test_stac_build_with_the_active_client(dask_client, stac_files, small_parts, tmp_path):
    args = {"stac_api_url": stac_files.items_json, "name": "s2", "bands": BANDS}
    with dask_client.as_current():
        dist = cogdex.build_from_stac(**args, cache_dir=tmp_path / "d", client="active")
    local = cogdex.build_from_stac(**args, cache_dir=tmp_path / "l")
    _assert_same(dist, local)
    # the cache key leaves `client` out: a local call loads the distributed build
    before = Path(dist.location).stat().st_mtime_ns
    again = cogdex.build_from_stac(**args, cache_dir=tmp_path / "d")
    assert again.location == dist.location and Path(dist.location).stat().st_mtime_ns == before


def test_table_build_on_s3_sends_secrets_to_workers_not_in_tasks(
    dask_client, stac_files, s3_server, small_parts, payloads, tmp_path
):
    """The requester-pays bucket is read only with the keys of `store_options` (no AWS
    variables here): the workers had them, and no task carried them."""
    secret = "dask-test-secret-key-5e1b"
    options = {**s3_server.options, "secret_access_key": secret, "request_payer": True}
    assert not os.environ.get("AWS_ACCESS_KEY_ID")
    args = {
        "table": stac_files.items_parquet,
        "name": "s3",
        "bands": BANDS,
        "href_rewrites": {stac_files.base_url: f"s3://{s3_server.requester_pays_bucket}"},
        "store_options": options,
    }
    dist = cogdex.build_from_table(**args, cache_dir=tmp_path / "d", client=dask_client)
    local = cogdex.build_from_table(**args, cache_dir=tmp_path / "l")
    _assert_same(dist, local)
    assert not dist.skipped and len(dist) == len(stac_files.items)
    assert payloads and not any(secret.encode() in p for p in payloads)
    # the build's secrets left with it
    assert not dask_client.run_on_scheduler(lambda dask_scheduler: _secrets(dask_scheduler))
    held = dask_client.run(lambda dask_worker: _secrets(dask_worker))
    assert len(held) == 2 and not any(held.values())


def _secrets(node: Any) -> list[str]:
    """The cogdex worker plugins a scheduler or worker holds."""
    held = getattr(node, "worker_plugins", None) or getattr(node, "plugins", {})
    return [name for name in held if str(name).startswith("cogdex-secrets")]


def test_worker_killed_mid_build_is_retried(dask_client, stac_files, small_parts, tmp_path):
    marker = tmp_path / "killed"
    pids = set(dask_client.run(os.getpid).values())
    dask_client.register_plugin(KillOnce(marker, "cogdex-headers-"), name="kill-once")
    try:
        args = {"stac_api_url": stac_files.items_json, "name": "k", "bands": BANDS}
        dist = cogdex.build_from_stac(**args, cache_dir=tmp_path / "d", client=dask_client)
    finally:
        dask_client.unregister_worker_plugin("kill-once")
    assert marker.exists()
    local = cogdex.build_from_stac(**args, cache_dir=tmp_path / "l")
    _assert_same(dist, local)
    wait_for_both_workers(dask_client)  # the nanny's new worker, for the next test
    assert len(pids - set(dask_client.run(os.getpid).values())) == 1


@pytest.mark.filterwarnings("ignore:the STAC metadata and the files")
def test_failed_build_raises_as_locally_and_keeps_the_collection(
    dask_client, stac_files, http_server, small_parts, tmp_path
):
    """Over 16 items, so a wrong band index fails on the first item, in the first part."""
    items = _mixed_items(stac_files, http_server)
    args = {"items": items, "name": "keep", "cache_dir": tmp_path}
    kept = cogdex.build_from_items(**args, bands=BANDS, client=dask_client)
    content = Path(kept.location).read_bytes()
    failures = [
        {"bands": {"red": "B04"}, "band_index": {"red": 3}},  # sample 3 of a 1-band file
        {"bands": BANDS, "href_rewrites": {stac_files.base_url: f"{stac_files.base_url}/no"}},
    ]
    for failure in failures:
        with pytest.raises(BuildError) as local:
            cogdex.build_from_items(**{**args, "cache": False}, **failure)
        with pytest.raises(BuildError) as dist:
            cogdex.build_from_items(**args, **failure, force=True, client=dask_client)
        assert _untimed(str(dist.value)) == _untimed(str(local.value))
        assert Path(kept.location).read_bytes() == content
    assert cogdex.build_from_items(**args, bands=BANDS).to_arrow().equals(kept.to_arrow())


def _untimed(message: str) -> str:
    """An error message without the request times it quotes."""
    return re.sub(r"\bin [\d.]+(µs|ms|s)\b", "in T", message)


def test_client_that_is_no_client(dask_client, stac_files, tmp_path):
    args = {"stac_api_url": stac_files.items_json, "name": "n", "cache_dir": tmp_path}
    with pytest.raises(BuildError, match=r"client= takes a dask\.distributed Client"):
        cogdex.build_from_stac(**args, client=42)
    with pytest.raises(BuildError, match="needs a running Dask client"):
        cogdex.build_from_stac(**args, client="active")  # `dask_client` is not current
    assert not (tmp_path / "collections").exists()


def test_client_without_the_plugin_names_the_extra(stac_files, tmp_path):
    plugin = plugins.plugin_manager().get_plugin("dask")
    assert plugin is not None
    plugins.unregister(plugin)
    try:
        with pytest.raises(MissingPluginError, match=re.escape('pip install "cogdex[dask]"')):
            cogdex.build_from_stac(
                stac_files.items_json, name="m", cache_dir=tmp_path, client="active"
            )
    finally:
        plugins.register(plugin, name="dask")


def test_parts_carry_no_signed_href_or_link(stac_files):
    from cogdex.index.build import plan_rows

    items = copy.deepcopy(stac_files.items)
    for item in items:
        item["links"] = [{"rel": "self", "href": f"https://x/{item['id']}?{SIGNATURE}"}]
        for asset in item["assets"].values():
            asset["href"] += f"?{SIGNATURE}"
    plan = plan_rows(items, bands=BANDS, collection=COLLECTION)
    parts = plan.parts(3)
    assert [p.start for p in parts] == [0, 3, 6] and sum(len(p.items) for p in parts) == 8
    assert all(SIGNATURE.encode() not in dumps(p) for p in parts)


def test_parts_are_about_four_per_worker_thread(dask_client):
    from cogdex_dask.build import DaskExecutor

    executor = DaskExecutor(dask_client)  # 2 threads
    assert [executor.part_items(n) for n in (10, 100, 2_000, 100_000)] == [16, 16, 250, 1024]
    with dask.config.set({"cogdex.build-part-items": 3}):
        assert executor.part_items(2_000) == 3
