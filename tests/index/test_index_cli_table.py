"""`cogdex collections ...` and `cogdex inspect`, in process and as a subprocess; builds
from Parquet tables of TIFF URLs (stac-geoparquet and flat ones)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cogdex
from cogdex.cli import main
from cogdex.errors import BuildError
from cogdex.index.stac import read_static


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_collections_commands(stac_api, tmp_path, capsys):
    cache = ["--cache-dir", str(tmp_path / "cache")]
    argv = ["collections", "build", "--stac", stac_api.url, "--collection", "sentinel-2-l2a"]
    code, out, _ = _run([*argv, "--name", "cli", "--bands", "B04,B08", *cache], capsys)
    assert code == 0 and "8 records" in out and "saved to" in out
    code, out, _ = _run(["collections", "list", "--json", *cache], capsys)
    listed = json.loads(out)
    assert [c["name"] for c in listed] == ["cli"] and listed[0]["records"] == 8
    code, out, _ = _run(["collections", "info", "cli", *cache], capsys)
    assert code == 0 and "B04=red[0]" in out and "EPSG:32643" in out
    target = tmp_path / "exported.parquet"
    code, out, _ = _run(["collections", "export", "cli", str(target), *cache], capsys)
    assert code == 0 and len(cogdex.load(target)) == 8
    code, out, _ = _run(["collections", "delete", "cli", *cache], capsys)
    assert code == 0
    code, out, err = _run(["collections", "info", "cli", *cache], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and "no cached collection" in err


def test_build_errors_are_one_line(stac_api, tmp_path, capsys):
    argv = ["collections", "build", "--stac", stac_api.url, "--collection", "sentinel-2-l2a"]
    code, _, err = _run(
        [*argv, "--name", "x", "--bands", "B99", "--cache-dir", str(tmp_path)], capsys
    )
    assert code == 1 and err.startswith("cogdex: error: band 'B99'") and err.count("\n") == 1


def test_errors_advise_the_cli_flag_not_the_python_argument(stac_files, tmp_path, capsys):
    """The library's advice names `force=True` / `overwrite=True`; the command's flags are
    `--force` / `--overwrite`."""
    build = ["collections", "build", "--table", str(stac_files.items_parquet), "--name", "t"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert _run([*build, "--bands", "B04", *cache], capsys)[0] == 0
    code, _, err = _run([*build, "--bands", "B08", *cache], capsys)
    assert code == 1 and "other arguments" in err
    assert "--force" in err and "force=True" not in err
    assert _run([*build, "--bands", "B08", "--force", *cache], capsys)[0] == 0
    target = tmp_path / "t.parquet"
    assert _run(["collections", "export", "t", str(target), *cache], capsys)[0] == 0
    code, _, err = _run(["collections", "export", "t", str(target), *cache], capsys)
    assert code == 1 and "--overwrite" in err and "overwrite=True" not in err


def test_filesystem_errors_are_one_line(stac_files, tmp_path, capsys):
    """What the user can get wrong on disk is `cogdex: error: ...` on one line, exit 1."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_bytes(b"")
    build = ["collections", "build", "--table", str(stac_files.items_parquet), "--bands", "B04"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert _run([*build, "--name", "ok", *cache], capsys)[0] == 0
    cases = [
        ("cannot write the index ", [*build, "--name", "t", "--cache-dir", str(in_the_way)]),
        ("cannot write the index ", [*build, "--name", "t", "--cache-dir",
                                     str(in_the_way / "sub")]),
        ("no table at ", ["collections", "build", "--table", str(tmp_path / "no.parquet"),
                          "--name", "t", *cache]),
        ("not found: ", ["inspect", str(tmp_path / "missing.tif")]),
        ("not a TIFF: only 0 bytes", ["inspect", str(in_the_way)]),
        ("", ["collections", "export", "ok", str(in_the_way / "x.parquet"), *cache]),
    ]  # fmt: skip
    for expected, argv in cases:
        code, _, err = _run(argv, capsys)
        assert code == 1 and err.startswith(f"cogdex: error: {expected}"), (argv, err)
        assert err.count("\n") == 1, err


def test_a_filesystem_error_has_no_traceback_in_a_subprocess(stac_files, tmp_path):
    (tmp_path / "a-file").write_bytes(b"")
    argv = ["collections", "build", "--table", str(stac_files.items_parquet), "--name", "t"]
    proc = subprocess.run(
        [sys.executable, "-m", "cogdex.cli", *argv, "--cache-dir", str(tmp_path / "a-file")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("cogdex: error: cannot write the index ")
    assert proc.stderr.endswith(": Not a directory\n")


def test_build_filter_as_cql2_text_or_json(stac_files, tmp_path, capsys):
    """`--filter` takes cql2-text or CQL2-JSON; both select the same records, and a filter
    that does not parse is a one-line error."""
    argv = ["collections", "build", "--stac", str(stac_files.items_json), "--bands", "B04"]
    cache = ["--cache-dir", str(tmp_path)]
    text = "eo:cloud_cover < 20"
    as_json = json.dumps({"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]})
    ids = []
    for name, cql2 in (("text", text), ("json", as_json)):
        code, out, _ = _run([*argv, "--name", name, "--filter", cql2, *cache], capsys)
        assert code == 0, out
        ids.append(sorted(cogdex.load(tmp_path / "collections" / f"{name}.parquet").ids))
    everything = len(json.loads(stac_files.items_json.read_text())["features"])
    assert ids[0] == ids[1] and 0 < len(ids[0]) < everything
    code, _, err = _run([*argv, "--name", "bad", "--filter", "eo:cloud_cover <", *cache], capsys)
    assert code == 1 and "filter" in err and err.count("\n") == 1


def test_inspect(scenes, http_server, capsys):
    url = f"{http_server.url}/{scenes.scenes[0].keys['stack']}"
    code, out, _ = _run(["inspect", url], capsys)
    assert code == 0
    assert "1024 x 1024, 4 band(s), uint16" in out and "DEFLATE" in out.upper()
    assert f"EPSG:{scenes.scenes[0].epsg}" in out and "levels" in out
    code, out, _ = _run(["inspect", url, "--json"], capsys)
    doc = json.loads(out)
    assert doc["levels"][0]["width"] == 1024 and len(doc["levels"][0]["tile_offsets"]) == 4
    code, _, err = _run(["inspect", f"{http_server.url}/nope.tif"], capsys)
    assert code == 1 and "not found" in err and err.count("\n") == 1


def test_inspect_prints_scale_and_offset(tmp_path, capsys):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "scaled.tif"
    profile = dict(driver="GTiff", width=32, height=32, count=2, dtype="uint16", crs="EPSG:32643",
                   transform=from_origin(500000, 2200000, 10, 10), tiled=True, blockxsize=16,
                   blockysize=16)  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.ones((2, 32, 32), np.uint16))
        ds.scales, ds.offsets = (0.0001, 2.0), (-0.1, 0.0)
    code, out, _ = _run(["inspect", str(path)], capsys)
    assert code == 0 and "scale/offset 0.0001/-0.1, 2/0 " in out
    path.unlink()
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.ones((2, 32, 32), np.uint16))
    assert "scale/offset" not in _run(["inspect", str(path)], capsys)[1]


def test_cli_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cogdex.cli", "collections", "list", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "no cached collections"


def test_build_from_stac_geoparquet(stac_files, scenes, tmp_path):
    coll = cogdex.build_from_table(
        stac_files.items_parquet, name="geoparquet", bands=["B04"], cache_dir=tmp_path
    )
    assert sorted(coll.ids) == sorted(s.id for s in scenes.scenes)
    assert coll.skipped == [] and coll.epsg_codes == [32643, 32644]
    assert "platform" in coll.columns


def test_build_from_flat_table_infers_or_names_what_it_cannot(stac_files, scenes, tmp_path):
    flat = pa.table(
        {
            "tile_id": [s.id for s in scenes.scenes],
            "year": [s.datetime.year for s in scenes.scenes],
            "path": [f"{stac_files.base_url}/{s.keys['stack']}" for s in scenes.scenes],
        }
    )
    path = tmp_path / "flat.parquet"
    pq.write_table(flat, path)
    bands = {"B02": ("data", 0), "B08": ("data", 3)}
    coll = cogdex.build_from_table(path, name="flat", bands=bands, cache_dir=tmp_path)
    assert len(coll) == len(scenes.scenes) and coll.epsg_codes == [32643, 32644]  # GeoKeys
    # footprints come from the headers: each contains the AOI point
    import shapely

    footprints = shapely.from_wkb(coll.to_arrow().column("geometry").to_numpy(False))
    assert shapely.contains_xy(footprints, 78.0, 20.0).all()
    pq.write_table(flat.drop_columns(["year"]), path)
    with pytest.raises(BuildError, match=r"cannot infer the datetime column.*columns=\{'datetime'"):
        cogdex.build_from_table(path, name="flat", bands=bands, cache_dir=tmp_path)
    renamed = flat.rename_columns(["tile_id", "acq", "link"])
    pq.write_table(renamed, Path(path))
    coll = cogdex.build_from_table(
        path,
        name="flat-renamed",
        bands=bands,
        columns={"datetime": "acq"},
        href_columns={"data": "link"},
        cache_dir=tmp_path,
    )
    assert len(coll) == len(scenes.scenes)


def test_a_missing_table_or_stac_file_is_named_on_any_store(http_server, tmp_path):
    for base in (str(tmp_path), http_server.url):
        table = f"{base}/missing.parquet"
        with pytest.raises(BuildError, match=re.escape(f"no table at {table}")):
            cogdex.build_from_table(table, name="missing", cache=False)
        with pytest.raises(BuildError, match=r"no STAC file at .*missing\.json"):
            read_static(f"{base}/missing.json")


def test_build_from_a_table_in_memory(stac_files, scenes, tmp_path):
    """A pyarrow.Table, or anything with the Arrow stream interface (pandas, polars,
    GeoPandas' `to_arrow()`), builds what its Parquet file builds; other values under a cached
    name clash, as other items do; the errors name what is wrong."""
    import geopandas as gpd
    import polars as pl

    from_file = cogdex.build_from_table(
        stac_files.items_parquet, name="file", bands=["B04"], cache_dir=tmp_path
    )
    want = from_file.to_arrow()
    geoparquet = pq.read_table(stac_files.items_parquet)
    coll = cogdex.build_from_table(geoparquet, name="memory", bands=["B04"], cache_dir=tmp_path)
    assert coll.to_arrow().equals(want)
    assert "<in-memory table>" in repr(coll)

    flat = pa.table(
        {
            "tile_id": [s.id for s in scenes.scenes],
            "date": [s.datetime for s in scenes.scenes],
            "red": [f"{stac_files.base_url}/{s.keys['B04']}" for s in scenes.scenes],
        }
    )
    frames = {
        "pandas": flat.to_pandas(),
        "polars": pl.from_arrow(flat),
        "geopandas": gpd.GeoDataFrame(
            flat.to_pandas(),
            geometry=gpd.GeoSeries.from_wkb(want.column("geometry").to_pylist(), crs=4326),
        ).to_arrow(),
    }
    for kind, frame in frames.items():
        built = cogdex.build_from_table(
            frame, name=kind, href_columns=["red"], cache_dir=tmp_path, force=True
        )
        assert sorted(built.ids) == sorted(from_file.ids), kind
        assert built.epsg_codes == [32643, 32644] and built.bands == ["red"], kind
    fewer = flat.slice(0, 3)  # other values under a cached name: as other items would be
    with pytest.raises(BuildError, match="built with other arguments"):
        cogdex.build_from_table(fewer, name="polars", href_columns=["red"], cache_dir=tmp_path)

    with pytest.raises(BuildError, match=r"the href column\(s\) \['nir'\]|\['nir'\] not in"):
        cogdex.build_from_table(flat, name="t", href_columns=["nir"], cache=False)
    with pytest.raises(BuildError, match=r"cannot infer the datetime column"):
        cogdex.build_from_table(flat.drop_columns(["date"]), name="t", cache=False)
    with pytest.raises(BuildError, match=r"Parquet file, folder or URL, or an in-memory table"):
        cogdex.build_from_table([{"id": "a"}], name="t", cache=False)
    shapes = gpd.GeoDataFrame(flat.to_pandas(), geometry=gpd.points_from_xy([78] * 8, [20] * 8))
    with pytest.raises(BuildError, match=r"column geometry.*to_arrow\(\)"):
        cogdex.build_from_table(shapes, name="t", cache=False)


def test_a_bbox_filters_table_rows_placed_by_their_headers(stac_files, scenes, tmp_path, capsys):
    """Rows without a geometry get their footprint from the header, so a bbox can only
    test them once the headers are read. It tested them before, found no footprint and
    dropped them: every row of a table of plain URLs ("nothing to index"), and silently the
    footprint-less rows of a table that has some footprints. Reference: `subset(bbox=)` of
    the full build."""
    ref = cogdex.build_from_table(
        stac_files.items_parquet, name="ref", bands=["B04"], cache_dir=tmp_path
    )
    footprint = dict(zip(ref.ids, ref.to_arrow().column("geometry").to_pylist(), strict=True))
    ids = [s.id for s in scenes.scenes]
    flat = pa.table(
        {
            "id": ids,
            "datetime": [s.datetime for s in scenes.scenes],
            "red": [f"{stac_files.base_url}/{s.keys['B04']}" for s in scenes.scenes],
        }
    )
    some = [footprint[i] if k % 2 else None for k, i in enumerate(ids)]
    mixed = flat.append_column("geometry", pa.array(some, pa.binary()))
    pq.write_table(flat, tmp_path / "flat.parquet")
    boxes = [  # 43QHV lies over 77.93..78.03, 44QKE over 77.97..78.07
        (77.90, 19.0, 77.95, 21.0),
        (78.04, 19.0, 78.10, 21.0),
        (77.99, 19.99, 78.0, 20.0),
    ]
    for k, box in enumerate(boxes):
        want = sorted(ref.subset(bbox=box).ids)
        assert 0 < len(want) <= len(ids), box
        for kind, table in {"flat": flat, "mixed": mixed}.items():
            built = cogdex.build_from_table(
                table, name=f"{kind}{k}", href_columns=["red"], bbox=box, cache=False
            )
            assert sorted(built.ids) == want, (kind, box)
        argv = ["collections", "build", "--table", str(tmp_path / "flat.parquet"),
                "--name", f"cli{k}", "--href-columns", "red", "--cache-dir", str(tmp_path),
                "--bbox", ",".join(map(str, box))]  # fmt: skip
        assert _run(argv, capsys)[0] == 0
        assert sorted(cogdex.load(tmp_path / "collections" / f"cli{k}.parquet").ids) == want
    assert len(ref.subset(bbox=boxes[0]).ids) < len(ids)  # the boxes do filter
    with pytest.raises(BuildError, match=r"no row of the table meets bbox .*nothing to index"):
        cogdex.build_from_table(flat, name="far", href_columns=["red"], bbox=(0, 0, 1, 1),
                                cache=False)  # fmt: skip
