"""Collection: filters, user columns, extend, export/load, Arrow interop (pyarrow, DuckDB,
Polars, geopandas), the band accessor, partitioned files and atomic writes."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import shapely

import cogdex
import cogdex.collection as collection_module
from cogdex.errors import IndexSchemaError, StaleIndexError
from cogdex.index import schema as S
from cogdex.index import store


@pytest.fixture(scope="module")
def coll(stac_files, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cogdex.build_from_stac(
        stac_files.items_json, name="coll", bands=["B04", "B08"], cache_dir=cache
    )


def test_repr_len_bands_crs(coll, scenes):
    text = repr(coll)
    assert f"{len(scenes.scenes)} records" in text and "B04, B08" in text
    assert "EPSG:32643" in text and "items.json" in text
    assert coll.crs == ["EPSG:32643", "EPSG:32644"]


def test_subset_matches_a_plain_python_filter(coll, scenes):
    sub = coll.subset(cloud_cover_lt=50, date_range=("2024-01-01", "2024-01-11"))
    expected = {
        s.id
        for s in scenes.scenes
        if s.cloud_cover < 50 and s.datetime.date() <= dt.date(2024, 1, 11)
    }
    assert set(sub.ids) == expected
    west = coll.subset(bbox=(77.0, 19.9, 77.95, 20.1))  # only the 43N tile reaches this far west
    assert set(west.ids) == {s.id for s in scenes.scenes if s.epsg == 32643}
    point = shapely.Point(78.0, 20.0).buffer(0.001)
    assert len(coll.subset(geometries=[point])) == len(scenes.scenes)
    assert len(coll.subset(geometries=shapely.box(10, 10, 11, 11))) == 0
    platform = coll.where(pc.field("platform") == "sentinel-2a")
    assert set(platform.ids) == {s.id for s in scenes.scenes if s.platform == "sentinel-2a"}


def test_user_columns_splits_and_join(coll):
    ids = coll.ids
    labelled = coll.with_column("split", ["train" if i % 2 else "val" for i in range(len(ids))])
    assert set(labelled.subset(split="val").ids) == set(ids[::2])
    by_fn = labelled.with_column("doubled", lambda r: r["cloud_cover"] * 2)
    assert by_fn.to_arrow().column("doubled").to_pylist() == [
        c * 2 for c in coll.to_arrow().column("cloud_cover").to_pylist()
    ]
    labels = pa.table({"id": ids[:3], "label": [1, 2, 3], "note": ["a", "b", "c"]})
    joined = by_fn.join(labels)
    table = joined.to_arrow()
    assert table.column("id").to_pylist() == ids  # order and records kept
    assert table.column("label").to_pylist() == [1, 2, 3] + [None] * (len(ids) - 3)
    assert table.column_names[-1] == "assets"
    with pytest.raises(IndexSchemaError, match="no column 'fold'"):
        coll.subset(split="a", split_column="fold")


def test_with_column_refuses_a_string_that_would_become_one_character_per_record(coll):
    n = len(coll)
    for values in ("v" * n, b"v" * n, {i: "v" for i in range(n)}):
        with pytest.raises(TypeError, match="one value per record"):
            coll.with_column("split", values)
    assert coll.with_column("split", ["v"] * n).to_arrow()["split"].to_pylist() == ["v"] * n


def test_with_column_refuses_values_arrow_cannot_make_a_column_of_with_its_name(coll):
    n = len(coll)
    with pytest.raises(ValueError, match=r"column 'embedding'.*list\(array\)"):
        coll.with_column("embedding", np.zeros((n, 3)))
    vectors = coll.with_column("embedding", list(np.ones((n, 3)))).to_arrow()["embedding"]
    assert vectors.to_pylist() == [[1.0, 1.0, 1.0]] * n


def test_as_collection_refuses_repeated_ids(coll):
    """`header(id)` and `extend` find a record by its id: a repeat would stand for the first."""
    table = coll.to_arrow()
    doubled = pa.concat_tables([table, table.slice(0, 1)])
    with pytest.raises(cogdex.IndexSchemaError, match=repr(coll.ids[0])):
        cogdex.as_collection(doubled)
    assert cogdex.as_collection(table).ids == coll.ids


def test_join_keeps_user_columns_named_like_its_own_row_numbers(coll):
    ids = coll.ids
    labels = pa.table({"id": ids[:2], "__row": [7, 8], "__hit": ["a", "b"]})
    for how, expected in (("left outer", ids), ("inner", ids[:2])):
        table = coll.join(labels, how=how).to_arrow()
        assert table["id"].to_pylist() == expected
        assert table["__row"].to_pylist() == [7, 8] + [None] * (len(expected) - 2)
        assert table["__hit"].to_pylist() == ["a", "b"] + [None] * (len(expected) - 2)


def test_indexing_takes_a_mask_as_a_mask_and_refuses_positions_out_of_range(coll):
    """A boolean mask was read as the positions 0 and 1, and an int past the end gave an
    empty collection: both silently other records than asked for."""
    ids = coll.ids
    mask = np.arange(len(ids)) % 2 == 0
    assert coll[mask].ids == ids[::2]
    assert coll[list(mask)].ids == ids[::2]
    assert coll[[-1, 0]].ids == [ids[-1], ids[0]] and coll[[]].ids == []
    assert coll[np.int64(-1)].ids == [ids[-1]]
    for key in (len(ids), -len(ids) - 1, [len(ids)], mask[:-1]):
        with pytest.raises(IndexError):
            coll[key]


def test_indexing_refuses_positions_that_repeat_a_record(coll):
    """`coll[[0, 0]]` made a collection holding one id twice, which export and load took
    as it was; ids are unique in a collection (extend, the reads and the index key on them)."""
    for key in ([0, 0], [1, 2, 1], np.array([len(coll) - 1, -1])):
        with pytest.raises(IndexError, match="more than once"):
            coll[key]


def _by_id(c) -> pa.Table:
    """Rows in id order (an export sorts rows spatially)."""
    table = c.to_arrow()
    return table.take(pc.sort_indices(table.column("id")))


def test_export_load_round_trip_keeps_records_and_columns(coll, tmp_path):
    labelled = coll.with_column("label", list(range(len(coll))))
    path = labelled.export(tmp_path / "out.parquet")
    back = cogdex.load(path)
    assert _by_id(back).equals(_by_id(labelled))
    assert back.bands == coll.bands and back.name == coll.name
    b04 = back.band_source("B04")
    for i in range(len(b04)):
        assert b04.header(i) == coll.header(b04.ids[i], "B04")


def test_export_to_s3_and_load(coll, s3_server, tmp_path):
    url = f"s3://{s3_server.bucket}/indexes/coll.parquet"
    coll.export(url, store_options=s3_server.options)
    back = cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path)
    assert _by_id(back).equals(_by_id(coll))


def test_geoparquet_readers(coll, tmp_path):
    import duckdb
    import geopandas
    import polars as pl

    path = coll.export(tmp_path / "geo.parquet")
    gdf = geopandas.read_parquet(path)
    assert gdf.crs.to_string() == "OGC:CRS84" and len(gdf) == len(coll)
    assert gdf.geometry.iloc[0].geom_type == "Polygon"
    meta = pq.read_schema(path).metadata
    geo = __import__("json").loads(meta[b"geo"])
    assert geo["version"] == "1.1.0" and geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == [
        "bbox",
        "xmin",
    ]
    rows = duckdb.sql(
        f"SELECT id, assets.red.href AS href FROM read_parquet('{path}') WHERE cloud_cover < 50"
    ).fetchall()
    assert {r[0] for r in rows} == set(coll.subset(cloud_cover_lt=50).ids)
    # the Arrow stream interface: DuckDB, Polars and pyarrow take the Collection itself
    assert duckdb.sql("SELECT count(*) FROM coll").fetchone()[0] == len(coll)
    assert pl.from_arrow(pa.table(coll)).height == len(coll)
    assert pa.table(coll).num_rows == len(coll)
    assert len(coll.to_geopandas()) == len(coll)


def test_as_collection_from_duckdb_and_polars(coll):
    import duckdb
    import polars as pl

    reshaped = pa.table(
        duckdb.sql("SELECT *, cloud_cover < 30 AS clear FROM coll ORDER BY datetime")
    )
    with pytest.raises(IndexSchemaError, match=r"assets.blue \(bands B02\) is missing"):
        cogdex.as_collection(reshaped, bands={"B02": "blue"})
    again = cogdex.as_collection(reshaped, name="again", bands=coll.band_map)
    assert again.bands == coll.bands and "clear" in again.columns
    assert again.header(again.ids[0], "B08") == coll.header(again.ids[0], "B08")
    frame = pl.from_arrow(coll.to_arrow()).drop("bbox", "epsg")
    with pytest.raises(IndexSchemaError, match=r"column 'bbox' is missing; column 'epsg'"):
        cogdex.as_collection(frame.to_arrow())


def test_extend_replaces_same_ids(coll):
    first, rest = coll[:3], coll[3:]
    grown = first.extend(rest)
    assert sorted(grown.ids) == sorted(coll.ids)
    relabelled = coll[:2].with_column("label", [9, 9])
    merged = grown.extend(relabelled)
    assert len(merged) == len(coll)
    labels = dict(zip(merged.ids, merged.to_arrow().column("label").to_pylist(), strict=True))
    assert [labels[i] for i in coll.ids[:2]] == [9, 9]


def test_extend_by_a_newer_copy_of_every_record_replaces_them_all(coll):
    """When every record was replaced, the kept runs were miscounted: a raw ValueError."""
    newer = coll.with_column("label", list(range(len(coll))))
    merged = coll[:2].extend(newer)
    assert merged.ids == newer.ids
    assert merged.to_arrow()["label"].to_pylist() == list(range(len(coll)))


@pytest.mark.parametrize("runs", [collection_module.SLICED_RUNS, 2])
def test_extend_of_many_rows_replaces_scattered_ids_as_a_filter_would(coll, runs, monkeypatch):
    # slices of the kept rows (few runs) or a take (many): the same rows either way
    monkeypatch.setattr(collection_module, "SLICED_RUNS", runs)
    table = coll.to_arrow()
    many = table.take(pa.array(np.arange(40) % len(coll)))
    many = many.set_column(0, "id", pa.array([f"r{k:02d}" for k in range(40)]))
    big = cogdex.as_collection(many, "big")
    update = cogdex.as_collection(many.take(pa.array([3, 4, 17, 30])), "big")
    grown = big.extend(update.with_column("label", [1, 2, 3, 4]))
    kept = [f"r{k:02d}" for k in range(40) if k not in (3, 4, 17, 30)]
    assert grown.ids == [*kept, "r03", "r04", "r17", "r30"]
    assert grown.to_arrow().column("label").to_pylist() == [None] * 36 + [1, 2, 3, 4]
    assert grown.to_arrow().column("assets")[:36].to_pylist() == [
        a for k, a in enumerate(many.column("assets").to_pylist()) if k not in (3, 4, 17, 30)
    ]


def test_band_source_columns_match_the_headers(coll):
    src = coll.band_source("B08")
    for i in range(len(src)):
        header = src.header(i)
        levels = range(src.level_start[i], src.level_start[i + 1])
        assert [src.width[k] for k in levels] == [lv.width for lv in header.levels]
        for k, level in zip(levels, header.levels, strict=True):
            tiles = slice(src.tile_start[k], src.tile_start[k + 1])
            assert np.array_equal(src.tile_offsets[tiles], level.tile_offsets)
            assert np.array_equal(src.tile_byte_counts[tiles], level.tile_byte_counts)
        assert tuple(src.transform[i]) == header.georef.transform
        assert src.has_nodata[i] and src.nodata[i] == header.nodata
    assert src.tile_offsets.dtype == np.uint64


def test_band_source_take_keeps_records_whole_with_their_own_buffers(coll):
    """`take` (what a Dask chunk carries): the records' columns, levels, tiles and headers
    as the full source has them, in buffers of their own size, with other options."""
    src = coll.band_source("B08")
    at = [1, 4, 5]
    part = src.take(at, {"region": "x"})
    assert list(part.rows) == [src.rows[i] for i in at] and part.store_options == {"region": "x"}
    for k, i in enumerate(at):
        assert part.header(k) == src.header(i) and part.hrefs[k] == src.hrefs[i]
        assert np.array_equal(part.transform[k], src.transform[i])
        mine = range(part.level_start[k], part.level_start[k + 1])
        theirs = range(src.level_start[i], src.level_start[i + 1])
        assert [part.width[m] for m in mine] == [src.width[t] for t in theirs]
        for m, t in zip(mine, theirs, strict=True):
            assert part.dtype[m] == src.dtype[t]
            got = part.tile_offsets[part.tile_start[m] : part.tile_start[m + 1]]
            assert np.array_equal(got, src.tile_offsets[src.tile_start[t] : src.tile_start[t + 1]])
    assert part.headers is None and len(pickle.dumps(part)) < len(pickle.dumps(src)) / 2
    assert len(src.take([])) == 0


def test_band_sources_of_a_lazy_index_read_only_their_assets(coll, tmp_path):
    """Loaded lazily, the reader's columns come from just the wanted assets' headers, and
    equal those of the fully loaded rows."""
    path = coll.export(tmp_path / "lazy.parquet")
    lazy = cogdex.load(path).subset(cloud_cover_lt=100)
    eager = cogdex.load(path).subset(cloud_cover_lt=100)
    eager.to_arrow()  # every asset's headers in memory
    read: list[list[str] | None] = []
    files = lazy._files
    original = files.read_assets

    def spy(where, keys=None):
        read.append(keys)
        return original(where, keys)

    object.__setattr__(files, "read_assets", spy)  # records what the reader asks the files for
    ours, theirs = lazy.band_sources(["B08"])[0], eager.band_source("B08")
    assert read == [[coll.band_map["B08"].asset]]
    assert ours.hrefs == theirs.hrefs and ours.ids == theirs.ids
    assert np.array_equal(ours.tile_offsets, theirs.tile_offsets)
    assert [ours.header(i) for i in range(len(ours))] == [
        theirs.header(i) for i in range(len(theirs))
    ]
    with pytest.raises(KeyError, match="no band 'B99'"):
        lazy.band_sources(["B08", "B99"])


def _synthetic(n: int) -> pa.Table:
    """`n` scenes spread over lon/lat and 3 years, sharing one real header layout."""
    rng = np.random.default_rng(1)
    lon = rng.uniform(-170, 170, n)
    lat = rng.uniform(-70, 70, n)
    boxes = shapely.box(lon, lat, lon + 1, lat + 1)
    start = np.datetime64("2021-01-01T00:00:00", "us")
    when = start + (rng.uniform(0, 3 * 365, n) * 86400e6).astype("timedelta64[us]")
    return pa.table(
        {
            "id": [f"s{i}" for i in range(n)],
            "datetime": pa.array(when).cast(pa.timestamp("us", tz="UTC")),
            "cloud_cover": rng.uniform(0, 100, n),
            "geometry": shapely.to_wkb(boxes),
            "lon": lon,
            "lat": lat,
        }
    )


def _big_index(coll, tmp_path, monkeypatch) -> tuple[Path, pa.Table]:
    """A 6,000-scene index by year in 256-row groups, and the scenes it was made from."""
    monkeypatch.setattr(store, "PARTITION_ROWS", 1000)
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 256)
    synth = _synthetic(6000)
    template = coll.to_arrow().slice(0, 1)
    table = template.take(np.zeros(len(synth), np.int64))
    bounds = shapely.bounds(shapely.from_wkb(synth.column("geometry").to_numpy(False)))
    table = table.set_column(0, "id", synth.column("id"))
    table = table.set_column(1, "datetime", synth.column("datetime"))
    table = table.set_column(3, "cloud_cover", synth.column("cloud_cover"))
    table = table.set_column(4, "geometry", synth.column("geometry"))
    bbox = pa.StructArray.from_arrays(
        [pa.array(bounds[:, i]) for i in range(4)], names=["xmin", "ymin", "xmax", "ymax"]
    )
    table = table.set_column(5, "bbox", bbox)
    big = cogdex.as_collection(table, name="big")
    return Path(big.export(tmp_path / "big.parquet")), synth


def test_partitioned_spatially_sorted_index_prunes_row_groups(coll, tmp_path, monkeypatch):
    path, synth = _big_index(coll, tmp_path, monkeypatch)
    assert sorted(p.name for p in path.iterdir()) == [
        "2021.parquet",
        "2022.parquet",
        "2023.parquet",
    ]
    loaded = cogdex.load(path)
    assert len(loaded) == 6000
    area = (10.0, 10.0, 15.0, 15.0)
    sub = loaded.subset(bbox=area, date_range=("2022-01-01", "2022-06-30"), cloud_cover_lt=60)
    lon, lat = synth.column("lon").to_numpy(), synth.column("lat").to_numpy()
    when = synth.column("datetime").to_numpy()
    ok = (
        (lon <= 15)
        & (lon + 1 >= 10)
        & (lat <= 15)
        & (lat + 1 >= 10)
        & (when >= np.datetime64("2022-01-01"))
        & (when < np.datetime64("2022-07-01"))
        & (synth.column("cloud_cover").to_numpy() < 60)
    )
    assert set(sub.ids) == {f"s{i}" for i in np.flatnonzero(ok)}
    # the sort makes a small bbox touch few row groups
    from cogdex.index import query as Q

    conds = [Q.Range("bbox.xmin", hi=15.0), Q.Range("bbox.xmax", lo=10.0)]
    conds += [Q.Range("bbox.ymin", hi=15.0), Q.Range("bbox.ymax", lo=10.0)]
    meta = pq.ParquetFile(path / "2022.parquet").metadata
    assert len(Q.row_groups(meta, conds)) <= meta.num_row_groups // 3


def test_a_bbox_across_the_antimeridian_prunes_by_either_side(coll, tmp_path, monkeypatch):
    """West > east (RFC 7946): the row groups either side's ranges may meet are read, and
    the rows found are those of the two sides' subsets, lazily as in memory."""
    path, synth = _big_index(coll, tmp_path, monkeypatch)
    loaded = cogdex.load(path)
    eager = cogdex.as_collection(loaded.to_arrow(), name="eager")
    lon, lat = synth.column("lon").to_numpy(), synth.column("lat").to_numpy()
    ids = np.array(synth.column("id").to_pylist())
    from cogdex.index import query as Q

    for box in [(160.0, 10.0, -160.0, 30.0), (170.0, -70.0, -170.0, 70.0), (40.0, 0.0, 39.0, 5.0)]:
        w, s, e, n = box
        across = ((lon + 1 >= w) | (lon <= e)) & (lat <= n) & (lat + 1 >= s)
        want = sorted(ids[across])
        sides = [(w, s, 180.0, n), (-180.0, s, e, n)]
        split = sorted({i for side in sides for i in loaded.subset(bbox=side).ids})
        assert sorted(loaded.subset(bbox=box).ids) == want == split, box
        assert sorted(eager.subset(bbox=box).ids) == want, box
    meta = pq.ParquetFile(path / "2022.parquet").metadata
    kept = Q.row_groups(meta, Q.bbox_conditions((160.0, 10.0, -160.0, 30.0)))
    assert 0 < len(kept) <= meta.num_row_groups // 2


def test_the_yearly_files_open_together_and_a_replaced_one_is_named(coll, tmp_path, monkeypatch):
    """The files' footers are parsed on several threads (`IndexFiles._opened`): each is
    opened once, and a file rewritten since the load fails the read as it would alone."""
    path, synth = _big_index(coll, tmp_path, monkeypatch)
    files = sorted(str(p) for p in path.iterdir())
    opened = []
    real_file = pq.ParquetFile

    class Recording(real_file):  # the real reader, noting each file it opens
        def __init__(self, source, *args, **kwargs):
            opened.append(source)
            super().__init__(source, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", Recording)
    loaded = cogdex.load(path)
    assert len(loaded) == 6000 and sorted(opened) == files
    sub = loaded.subset(date_range=("2022-01-01", "2022-12-31"))
    years = synth.column("datetime").to_numpy().astype("datetime64[Y]").astype(int) + 1970
    assert sorted(sub.ids) == sorted(synth.column("id").to_numpy()[years == 2022].tolist())
    assert sorted(opened) == sorted(files + files)  # every file once more, none twice
    stale = cogdex.load(path)
    pq.write_table(pq.read_table(files[-1]), files[-1])  # rewritten in place: same path
    with pytest.raises(StaleIndexError, match=re.escape(files[-1])):
        _ = stale.subset(cloud_cover_lt=101).ids


def test_a_lazy_subset_reads_other_columns_only_of_row_groups_with_matches(
    coll, tmp_path, monkeypatch
):
    """A candidate row group's filtered columns are read first; its other columns only when
    some of its rows match. The rows, columns and schema are those of a whole-group read."""
    path, synth = _big_index(coll, tmp_path, monkeypatch)
    reads = []
    real_file = pq.ParquetFile

    class Recording(real_file):  # the real reader, noting each row group read and its columns
        def read_row_group(self, i, columns=None, **kwargs):
            reads.append((i, tuple(columns or ())))
            return super().read_row_group(i, columns=columns, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", Recording)
    area = (0.0, 0.0, 40.0, 30.0)
    sub = cogdex.load(path).subset(bbox=area, date_range=("2022-03-01", "2022-05-31"))
    light = sub._light()
    tested = ("datetime", "bbox")
    assert {columns for _, columns in reads} == {
        tested,
        tuple(n for n in light.column_names[:-3] if n not in tested),
    }
    firsts = [g for g, columns in reads if columns == tested]
    others = [g for g, columns in reads if columns != tested]
    matched = sorted(set(light.column("__group").to_pylist()))
    assert len(firsts) > len(others) and sorted(others) == matched  # some groups had none
    lon, lat = synth.column("lon").to_numpy(), synth.column("lat").to_numpy()
    when = synth.column("datetime").to_numpy()
    ok = (lon <= 40) & (lon + 1 >= 0) & (lat <= 30) & (lat + 1 >= 0)
    ok &= (when >= np.datetime64("2022-03-01")) & (when < np.datetime64("2022-06-01"))
    assert sorted(sub.ids) == sorted(synth.column("id").to_numpy()[ok].tolist())
    whole = cogdex.as_collection(cogdex.load(path).to_arrow())  # in memory: whole groups
    expected = whole.subset(bbox=area, date_range=("2022-03-01", "2022-05-31")).to_arrow()
    assert sub.to_arrow().equals(expected, check_metadata=True)


def test_a_partitioned_index_is_a_geoparquet_dataset_for_duckdb_and_geopandas(
    coll, tmp_path, monkeypatch
):
    import duckdb
    import geopandas

    from tests.servers.stac_api import extension_dir

    path, _ = _big_index(coll, tmp_path, monkeypatch)
    area = (10.0, 10.0, 15.0, 15.0)
    expected = sorted(cogdex.load(path).subset(bbox=area).ids)
    assert 0 < len(expected) < 6000
    # DuckDB reads the yearly files in parallel (spatial makes `geometry` a GEOMETRY from
    # the `geo` metadata) and filters on the covering and the footprint
    con = duckdb.connect(
        config={"extension_directory": str(extension_dir(tmp_path / "ext")), "threads": 2}
    )
    con.load_extension("spatial")
    rows = con.sql(
        f"SELECT id FROM read_parquet('{path}/*.parquet') WHERE bbox.xmin <= 15 "
        "AND bbox.xmax >= 10 AND bbox.ymin <= 15 AND bbox.ymax >= 10 AND ST_Intersects("
        "geometry, ST_MakeEnvelope(10, 10, 15, 15)) ORDER BY id"
    ).fetchall()
    assert [r[0] for r in rows] == expected
    # GeoPandas reads the folder as one dataset, its bbox filter using the covering
    frame = geopandas.read_parquet(path, bbox=area, columns=["id", "geometry"])
    assert frame.crs.to_string() == "OGC:CRS84"
    assert sorted(frame["id"]) == expected
    # and cogdex loads back exactly what was exported
    exported = pa.concat_tables(pq.read_table(f) for f in sorted(path.glob("*.parquet")))
    assert (
        cogdex.load(path)
        .to_arrow()
        .select(exported.column_names)
        .equals(exported.replace_schema_metadata(None))
    )


def test_where_on_a_loaded_index_reads_only_the_row_groups_it_may_match(
    coll, tmp_path, monkeypatch
):
    path, _ = _big_index(coll, tmp_path, monkeypatch)
    read: list[tuple[int, int]] = []
    original = store.IndexFiles._row_group

    def spy(self, handle, number, group, columns):  # records each row group read
        read.append((number, group))
        return original(self, handle, number, group, columns)

    monkeypatch.setattr(store.IndexFiles, "_row_group", spy)
    bbox = (pc.field("bbox", "xmin") <= 15) & (pc.field("bbox", "xmax") >= 10)
    bbox &= (pc.field("bbox", "ymin") <= 15) & (pc.field("bbox", "ymax") >= 10)
    expression = bbox & (pc.field("cloud_cover") < 60)
    lazy = cogdex.load(path).where(expression)
    assert lazy._table is None  # still unloaded: rows are read on first use
    ids = lazy.ids
    light = set(read)
    rows = lazy.to_arrow()

    everything = pa.concat_tables(pq.read_table(f) for f in sorted(path.glob("*.parquet")))
    expected = everything.filter(expression)
    assert ids == expected.column("id").to_pylist() and len(ids) > 0
    assert rows.column("assets").to_pylist() == expected.column("assets").to_pylist()
    # exactly the groups whose bbox statistics overlap the area, and only those again for
    # the headers of the matching rows
    may_match = set()
    for number, f in enumerate(sorted(path.glob("*.parquet"))):
        meta = pq.ParquetFile(f).metadata
        names = [meta.schema.column(j).path for j in range(meta.num_columns)]
        for g in range(meta.num_row_groups):
            stats = {n: meta.row_group(g).column(j).statistics for j, n in enumerate(names)}
            if (
                stats["bbox.xmin"].min <= 15
                and stats["bbox.xmax"].max >= 10
                and stats["bbox.ymin"].min <= 15
                and stats["bbox.ymax"].max >= 10
                and stats["cloud_cover"].min < 60
            ):
                may_match.add((number, g))
    total = sum(pq.ParquetFile(f).metadata.num_row_groups for f in path.glob("*.parquet"))
    assert light == may_match and len(light) <= total // 3
    assert set(read) == light


@pytest.mark.parametrize(
    "expression",
    [
        pc.is_nan(pc.field("cloud_cover")),
        pc.field("cloud_cover") != 5.0,
        ~(pc.field("cloud_cover") < 50),
        pc.is_null(pc.field("cloud_cover"), nan_is_null=True),
    ],
    ids=["is_nan", "not_equal", "negated", "nan_is_null"],
)
def test_where_keeps_rows_whose_nan_the_statistics_leave_out(
    coll, tmp_path, monkeypatch, expression
):
    # Parquet leaves NaN out of a column's min/max: a group of 5.0s and NaNs has min = max
    # = 5.0, and pruning by them alone would drop the NaN rows these expressions match.
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 2)
    table = coll.to_arrow()
    cover = np.full(len(table), 5.0)
    cover[[1, len(table) - 2]] = np.nan
    table = table.set_column(table.schema.get_field_index("cloud_cover"), "cloud_cover",
                             pa.array(cover))  # fmt: skip
    path = cogdex.as_collection(table, name="nan").export(tmp_path / "nan.parquet")
    eager = cogdex.load(path).to_arrow().filter(expression)
    assert eager.num_rows == 2
    assert cogdex.load(path).where(expression).ids == eager.column("id").to_pylist()


def test_where_with_a_wrong_expression_is_not_called_a_damaged_index(coll, tmp_path, monkeypatch):
    # A tz-naive timestamp against the UTC `datetime`: Arrow accepts it on an empty table
    # but refuses it on the statistics and on the rows. The lazy where must raise Arrow's
    # error as the loaded collection does, not tell the user to rebuild a sound index.
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 2)
    path = coll.export(tmp_path / "sound.parquet")
    naive = pc.field("datetime") > pa.scalar(dt.datetime(2024, 1, 1), pa.timestamp("us"))
    with pytest.raises(pa.ArrowInvalid, match="timezone") as eager:
        cogdex.load(path).to_arrow().filter(naive)
    with pytest.raises(pa.ArrowInvalid, match="timezone") as lazy:
        cogdex.load(path).where(naive).ids  # noqa: B018  (reading the ids runs the query)
    assert str(lazy.value) == str(eager.value)


def test_where_on_the_headers_of_a_loaded_index_reads_them_all(coll, tmp_path):
    path = coll.export(tmp_path / "small.parquet")
    asset = coll.band_map["B04"].asset
    href = pc.field("assets", asset, "href")
    first = coll.to_arrow().column("assets")[0][asset]["href"].as_py()
    found = cogdex.load(path).where(href == first)
    assert found.ids == [coll.ids[0]]


def test_failed_write_leaves_the_previous_index(coll, tmp_path, monkeypatch):
    path = Path(coll.export(tmp_path / "keep.parquet"))
    before = path.read_bytes()

    def broken(table, meta, target, rows):
        Path(target).write_bytes(b"partial")
        raise KeyboardInterrupt("interrupted mid-write")

    monkeypatch.setattr(store, "_write_file", broken)
    with pytest.raises(KeyboardInterrupt):
        coll.with_column("x", list(range(len(coll)))).export(path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.parquet"]  # no temporary left
    assert os.path.getsize(path) == len(before)


def test_newer_version_on_disk_is_refused(coll, tmp_path):
    path = coll.export(tmp_path / "v.parquet")
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[b"cogdex"] = meta[b"cogdex"].replace(
        f'"schema_version": {S.SCHEMA_VERSION}'.encode(), b'"schema_version": 99'
    )
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(IndexSchemaError, match="schema version 99"):
        cogdex.load(path)


def test_a_version_1_index_without_stac_raster_fields_still_loads_and_reads(coll, tmp_path):
    path = coll.export(tmp_path / "v2.parquet")
    table = pq.read_table(path)
    assets = table.column("assets").combine_chunks()
    old = [
        pa.StructArray.from_arrays(
            [a.field("href"), a.field("header")], fields=list(S.ASSET_TYPE)[:2]
        )
        for a in (assets.field(i) for i in range(assets.type.num_fields))
    ]
    v1 = pa.StructArray.from_arrays(old, names=assets.type.names)
    meta = dict(table.schema.metadata)
    meta[b"cogdex"] = meta[b"cogdex"].replace(
        f'"schema_version": {S.SCHEMA_VERSION}'.encode(), b'"schema_version": 1'
    )
    index = table.column_names.index("assets")
    table = table.set_column(index, "assets", v1).replace_schema_metadata(meta)
    pq.write_table(table, tmp_path / "v1.parquet")
    loaded = cogdex.load(tmp_path / "v1.parquet")
    assert loaded.metadata.schema_version == 1
    band = loaded.bands[0]
    assert loaded.to_arrow().column("assets").type == coll.to_arrow().column("assets").type
    assert np.isnan(loaded.band_source(band).scale).all()
    box = shapely.box(*loaded.to_arrow().column("bbox")[0].as_py().values()).centroid.buffer(0.002)
    np.testing.assert_array_equal(loaded.get_numpy(box, band), coll.get_numpy(box, band))
    again = cogdex.load(loaded.export(tmp_path / "again.parquet"))  # written as this version
    assert again.metadata.schema_version == S.SCHEMA_VERSION


def test_adapters_dispatch_or_name_the_missing_extra(coll):
    from cogdex import plugins
    from cogdex.adapters import OutputAdapter
    from cogdex.hookspecs import hookimpl

    pm = plugins.plugin_manager()
    installed = {n: pm.get_plugin(n) for n in ("torchgeo", "xarray") if pm.get_plugin(n)}
    for plugin in installed.values():
        plugins.unregister(plugin)
    try:
        with pytest.raises(cogdex.MissingPluginError, match=r"cogdex\[torchgeo\]"):
            coll.to_torchgeo_dataset(["B04"])
        with pytest.raises(cogdex.MissingPluginError, match=r"cogdex\[xarray\]"):
            coll.get_xarray((78, 20, 78.01, 20.01), ["B04"])

        class Fake:
            @hookimpl
            def cogdex_adapters(self):
                return [OutputAdapter("xarray", lambda c, *a, **k: (len(c), a, k))]

        fake = Fake()
        plugins.register(fake, name="fake-xarray")
        n, args, kwargs = coll.get_xarray("g", ["B04"], chunks={"time": 1})
        assert (n, args) == (len(coll), ("g", ["B04"]))
        assert kwargs["chunks"] == {"time": 1} and kwargs["merge"] is None  # every keyword
        plugins.unregister(fake)
    finally:
        for name, plugin in installed.items():
            plugins.register(plugin, name=name)


def test_headers_decoded_in_runs_equal_those_decoded_one_by_one(coll):
    """`decode_headers` rebuilds runs of records in one slice each; every header equals
    the one `header(i)` rebuilds alone, and records not asked for are left for later."""
    band = coll.bands[0]
    # fresh loads: a collection keeps its band sources, with the headers it rebuilt
    batch = cogdex.load(coll.location).band_source(band)
    single = cogdex.load(coll.location).band_source(band)
    n = len(batch)
    assert n >= 4
    wanted = [n - 1, 0, 1, n - 1]  # a run, a lone record, a repeat
    batch.decode_headers(wanted)
    assert sorted(batch._decoded) == sorted(set(wanted))
    for i in range(n):
        assert batch.header(i) == single.header(i)
