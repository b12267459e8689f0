"""The how-to guides of docs/how-to run as written, against the suite's local servers
(tests/guides/harness.py), and what they compute is checked here: counts against the
items the servers hold, the same rows or pixels by two paths, values in their range."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import cogdex
from cogdex import plugins
from tests.guides.harness import GUIDES, MAX_NOT_RUN, PLACEHOLDERS, Block, blocks, parse, run
from tests.servers.scenes import SceneSet, StacFiles

DOCS = GUIDES.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_guide_is_listed_and_tested_and_runs_nearly_whole():
    index = (DOCS / "README.md").read_text()
    names = sorted(p.name for p in GUIDES.glob("*.md"))
    assert len(names) == 9
    for name in names:
        assert f"(how-to/{name})" in index, f"docs/README.md does not list {name}"
        assert f"test_{name[:-3].replace('-', '_')}" in globals(), f"no test runs {name}"
        assert sum(not b.runs for b in blocks(name)) <= MAX_NOT_RUN
    assert all(f"`{placeholder}`" in index for placeholder in PLACEHOLDERS)


def test_only_a_block_after_a_not_run_comment_is_left_out():
    text = (
        "<!-- getting-started -->\n```python\na = 1\n```\n\n"
        "<!-- not run: needs a GPU -->\n```python\nb = 2\n```\n"
        "```bash\nls\n```\n```python\nc = 3\n```\n"
    )
    assert parse(text) == [
        Block("a = 1\n", 3, True),
        Block("b = 2\n", 8, False),
        Block("c = 3\n", 14, True),
    ]


def test_the_guides_links_resolve():
    for page in [*GUIDES.glob("*.md"), DOCS / "README.md"]:
        for target in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            assert path.exists(), f"{page.name}: {target} does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.name}: no #{anchor}"


def _items(stac_files: StacFiles, cloud_lt: float, dates: tuple[str, str]) -> list[str]:
    return sorted(
        it["id"]
        for it in stac_files.items
        if it["properties"]["eo:cloud_cover"] < cloud_lt
        and dates[0] <= it["properties"]["datetime"][:10] <= dates[1]
    )


def test_build_from_stac(request, monkeypatch, tmp_path: Path, stac_files: StacFiles, capsys):
    scope = run("build-from-stac.md", request, monkeypatch, tmp_path)
    coll, clear, zone_43, static = (scope[k] for k in ("coll", "clear", "zone_43", "static"))
    expected = _items(stac_files, 50, ("2024-01-01", "2024-01-31"))
    assert sorted(coll.ids) == expected and coll.bands == ["red", "nir"]
    assert sorted(coll.crs) == ["EPSG:32643", "EPSG:32644"]
    assert 0 < len(clear) < len(coll) and all(
        c < 20 for c in clear.to_arrow()["cloud_cover"].to_pylist()
    )
    assert 0 < len(zone_43) < len(coll)
    assert set(static.to_arrow()["platform"].to_pylist()) == {"sentinel-2a"}
    a_ids = coll.to_arrow().filter(pc.field("platform") == "sentinel-2a")["id"].to_pylist()
    assert static.ids and set(static.ids) == set(a_ids)  # the same search, run locally
    assert f"{len(coll)} {len(clear)} {len(zone_43)}" in capsys.readouterr().out


def test_build_from_items(request, monkeypatch, tmp_path: Path, stac_files: StacFiles, capsys):
    scope = run("build-from-items.md", request, monkeypatch, tmp_path)
    best: dict[str, dict] = {}
    for item in stac_files.items:
        tile, cloud = item["properties"]["grid:code"], item["properties"]["eo:cloud_cover"]
        if tile not in best or cloud < best[tile]["properties"]["eo:cloud_cover"]:
            best[tile] = item
    coll, coll_b = scope["coll"], scope["coll_b"]
    assert sorted(coll.ids) == sorted(i["id"] for i in best.values()) and len(coll) == 2
    s2b = sorted(i["id"] for i in stac_files.items if i["properties"]["platform"] == "sentinel-2b")
    assert sorted(coll_b.ids) == s2b and 0 < len(s2b) < len(stac_files.items)
    # the same headers as a build from the API of those ids
    by_api = cogdex.build_from_stac(
        request.getfixturevalue("stac_api").url,
        "sentinel-2-l2a",
        name="by-api",
        ids=s2b,
        bands=["red", "nir"],
        cache=False,
    )
    columns = ["id", "datetime", "geometry", "assets"]
    assert by_api.to_arrow().select(columns).equals(coll_b.to_arrow().select(columns))
    out = capsys.readouterr().out
    assert "collection 's2b' in the cache" in out and "force=True" in out  # the refusal says why


def _by_id(coll, aoi) -> dict[str, np.ndarray]:
    data, table = coll.get_numpy(aoi, ["red", "nir"], return_table=True)
    return dict(zip(table["id"].to_pylist(), data, strict=True))


def test_build_from_table(request, monkeypatch, tmp_path: Path, stac_files: StacFiles, capsys):
    scope = run("build-from-table.md", request, monkeypatch, tmp_path)
    geoparquet, bucket, aoi = scope["from_geoparquet"], scope["from_bucket"], scope["aoi"]
    every = sorted(i["id"] for i in stac_files.items)
    assert sorted(geoparquet.ids) == every and sorted(bucket.ids) == every
    assert bucket.bands == ["red", "nir"] and sorted(bucket.crs) == ["EPSG:32643", "EPSG:32644"]
    days = {i["id"]: i["properties"]["datetime"][:10] for i in stac_files.items}
    table = bucket.to_arrow()
    assert {
        i: str(d)[:10]
        for i, d in zip(table["id"].to_pylist(), table["datetime"].to_pylist(), strict=True)
    } == days
    # the table's index reads the pixels the STAC export's index reads, record by record
    from_table, from_stac = _by_id(bucket, aoi), _by_id(geoparquet, aoi)
    assert from_table.keys() == from_stac.keys() and len(from_table) == len(every)
    for key, data in from_table.items():
        np.testing.assert_array_equal(data, from_stac[key])
    pixels = scope["pixels"]
    assert pixels.dtype == np.uint16 and pixels.ndim == 4 and pixels.shape[1] == 2 and pixels.any()
    assert str(pixels.shape) in capsys.readouterr().out


def test_share_a_collection(request, monkeypatch, tmp_path: Path, capsys):
    scope = run("share-a-collection.md", request, monkeypatch, tmp_path)
    coll, team, remote, train = scope["coll"], scope["team"], scope["remote"], scope["train"]
    s3 = request.getfixturevalue("s3_server")
    assert scope["path"] == str(tmp_path / "shared" / "team-s2.parquet")
    assert scope["url"] == f"s3://{s3.bucket}/indexes/team-s2.parquet"
    splits = team.to_arrow()["split"].to_pylist()
    assert set(splits) == {"train", "val"} and len(train) == splits.count("train")
    irrigated = dict(zip(remote.ids, remote.to_arrow()["irrigated"].to_pylist(), strict=True))
    assert [irrigated[i] for i in coll.ids[:3]] == [True, False, True]
    assert all(irrigated[i] is None for i in coll.ids[3:])
    columns = ["id", "split", "irrigated", "assets"]
    assert remote.to_arrow().select(columns).equals(team.to_arrow().select(columns))
    # the bucket's copy reads the pixels the build reads
    np.testing.assert_array_equal(
        scope["red_nir"], coll.get_numpy(scope["aoi"], ["red", "nir"], merge="first")
    )
    out = capsys.readouterr().out
    assert "overwrite=True" in out  # the refusal says how to replace
    counts = [("train", splits.count("train")), ("val", splits.count("val"))]
    assert scope["counts"].fetchall() == counts  # DuckDB reads the export as it is


def test_add_a_dataset(request, monkeypatch, tmp_path: Path, stac_files: StacFiles, capsys):
    scope = run("add-a-dataset.md", request, monkeypatch, tmp_path)
    with pytest.raises(cogdex.UnknownDatasetError):  # the guide unregisters it
        plugins.dataset("team/s2-fields")
    coll = scope["coll"]
    assert coll.bands == ["B04", "B08"]
    assert [coll.band_map[b].asset for b in coll.bands] == ["red", "nir"]
    # the catalog build is the build_from_stac of the same search
    direct = cogdex.build_from_stac(
        request.getfixturevalue("stac_api").url, "sentinel-2-l2a", name="direct",
        bbox=scope["aoi"], date_range=("2024-01-01", "2024-01-31"),
        bands={"B04": "red", "B08": "nir"}, cache=False,
    )  # fmt: skip
    columns = ["id", "datetime", "assets"]
    assert coll.to_arrow().select(columns).equals(direct.to_arrow().select(columns))
    assert len(coll) == len(stac_files.items)
    out = capsys.readouterr().out
    assert "'B11'" in out and "B04" in out.splitlines()[-1]  # the error lists the valid names


def test_add_a_cloud(request, monkeypatch, tmp_path: Path, capsys):
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    scope = run("add-a-cloud.md", request, monkeypatch, tmp_path)
    assert plugins.plugin_manager().get_plugin("acme") is None  # the guide unregisters it
    coll, server = scope["coll"], scope["server"]
    assert len(coll) == 2 and scope["red"].dtype == np.uint16 and scope["red"].any()
    # both headers were read (a request without the key gets a 401 and skips its file)
    assert not coll.skipped and len(server.requests) > 2
    index = Path(coll.location).read_bytes()
    assert b"k-123" not in index and dict(scope["shared"].metadata.store_options) == {"acme": True}
    out = capsys.readouterr().out
    assert "served by Acme, which needs an API key" in out and "k-123" not in out


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # fork, as documented
def test_torchgeo_training(request, monkeypatch, tmp_path: Path, stac_files: StacFiles, capsys):
    scope = run("torchgeo-training.md", request, monkeypatch, tmp_path)
    train, val = scope["train"], scope["val"]
    assert len(train) + len(val) == len(stac_files.items) and len(train) and len(val)
    assert max(train.to_arrow()["datetime"].to_pylist()) < min(
        val.to_arrow()["datetime"].to_pylist()
    )
    assert scope["val_ds"].crs == scope["train_ds"].crs
    batch = next(iter(scope["val_loader"]))
    assert (
        batch["image"].shape[1:] == (2, 128, 128) and str(batch["image"].dtype) == "torch.float32"
    )
    history = scope["history"]
    assert len(history) == 2 and all(np.isfinite(h).all() for h in history)
    # it learns: the mean training loss falls (the validation loss need not: the red/NIR
    # relation of the synthetic scenes changes as they green up from date to date)
    assert history[1][0] < history[0][0]
    assert "epoch 1: train" in capsys.readouterr().out


def test_xarray_analysis(request, monkeypatch, tmp_path: Path, stac_files: StacFiles, capsys):
    scope = run("xarray-analysis.md", request, monkeypatch, tmp_path)
    coll, ds, aoi = scope["coll"], scope["ds"], scope["aoi"]
    days = {i["properties"]["datetime"][:10] for i in stac_files.items}
    assert ds.sizes["time"] == len(days) and ds["red"].dtype == np.float32
    assert ds["red"].chunks is not None  # lazy
    # the lazy chunks compute to the eager read, bit for bit
    eager = coll.get_xarray(aoi, ["red", "nir"], merge="first", scale=True)
    for band in ("red", "nir"):
        np.testing.assert_array_equal(ds[band].to_numpy(), eager[band].to_numpy())
    ndvi = scope["ndvi"].compute().to_numpy()
    finite = ndvi[np.isfinite(ndvi)]
    assert finite.size > 0.5 * ndvi.size and finite.min() >= -1 and finite.max() <= 1
    np.testing.assert_allclose(
        scope["ndvi_series"].to_numpy(), np.nanmean(ndvi, axis=(1, 2)), rtol=1e-5
    )
    np.testing.assert_array_equal(scope["last"].to_numpy(), ndvi[-1])
    assert str(scope["ndvi"].rio.crs) in {"EPSG:32643", "EPSG:32644"}
    assert scope["weekly"].sizes["time"] >= 2
    assert "EPSG:3264" in capsys.readouterr().out


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded (`sort_by` cannot sort them), rows in one order."""
    columns = [pc.cast(c, c.type.value_type) if pa.types.is_dictionary(c.type) else c
               for c in table.columns]  # fmt: skip
    plain = pa.table(dict(zip(table.column_names, columns, strict=True)))
    return plain.sort_by([("point_id", "ascending"), ("id", "ascending"), ("band", "ascending")])


def test_point_sampling(request, monkeypatch, tmp_path: Path, scenes: SceneSet, capsys):
    import rasterio
    from rasterio.windows import Window

    scope = run("point-sampling.md", request, monkeypatch, tmp_path)
    samples, n = scope["samples"], scope["n"]
    assert {"point_id", "id", "band", "value", "row", "col"} <= set(samples.column_names)
    assert samples["value"].type == pa.float32()
    ids = set(samples["point_id"].to_pylist())
    assert len(ids) > 0.9 * n and ids <= set(range(n))  # nearly every plot lies in a record
    by_plot, by_scene = scope["by_plot"], scope["by_scene"]
    assert by_plot["point_id"].to_pylist() == sorted(samples["point_id"].to_pylist())
    assert by_scene["id"].to_pylist() == sorted(samples["id"].to_pylist())
    # values where GDAL reads them from the same files (raw * 0.0001 - 0.1, NaN at nodata)
    files = {s.id: s.files for s in scenes.scenes}
    rows = samples.take(np.random.default_rng(1).choice(samples.num_rows, 40)).to_pylist()
    for r in rows:
        path = files[r["id"]]["B04" if r["band"] == "red" else "B08"]
        with rasterio.open(path) as src:
            raw = int(src.read(1, window=Window(r["col"], r["row"], 1, 1))[0, 0])
        expected = np.nan if raw == 0 else np.float32(raw) * np.float32(1e-4) - np.float32(0.1)
        np.testing.assert_allclose(r["value"], expected, rtol=1e-6, atol=1e-7)
    ndvi = pq.read_table(tmp_path / "plot-ndvi.parquet")
    assert ndvi.num_rows > 0 and ndvi.equals(scope["ndvi"])
    values = ndvi["ndvi"].to_numpy()
    assert values.min() >= -1 and values.max() <= 1
    # sampling in batches streams the rows of one call, no more, no fewer
    assert _plain(pq.read_table(tmp_path / "samples.parquet")).equals(_plain(samples))
    assert f"{samples.num_rows} rows" in capsys.readouterr().out
