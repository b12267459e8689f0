"""Exports never lose data, and a collection never reads records that are not its own.

Every export form (a file path, a folder, `"dir/"`, `"."`, the CLI, an S3 URL or prefix)
against a folder of user files; same-name builds with other arguments; an index rebuilt or
replaced under a live, lazily loaded collection.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import cogdex
from cogdex.cli import main
from cogdex.errors import BuildError, ExportError, IndexWriteError, StaleIndexError


@pytest.fixture(scope="module")
def coll(stac_files, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cogdex.build_from_stac(
        stac_files.items_json, name="coll", bands=["B04"], cache_dir=cache
    )


def _user_folder(root: Path) -> dict[str, bytes]:
    """A folder as a user leaves it: notes, a nested folder, a Parquet file of their own."""
    files = {
        "notes.txt": b"field notes\n",
        "labels/train.csv": b"id,label\na,1\n",
        "mine.parquet": b"PAR1 not an index PAR1",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _survives(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (root / name).read_bytes() == data, f"{name} was changed or lost"


def _is_index_of(path: str | Path, coll) -> None:
    back = cogdex.load(path)
    assert sorted(back.ids) == sorted(coll.ids)


def test_export_into_an_existing_user_folder_keeps_every_file(coll, tmp_path):
    files = _user_folder(tmp_path)
    for form in (tmp_path, str(tmp_path), f"{tmp_path}/", f"{tmp_path}{os.sep}"):
        written = coll.export(form, overwrite=True)
        assert Path(written) == tmp_path / "coll.parquet"
        _is_index_of(written, coll)
        _survives(tmp_path, files)
    with pytest.raises(ExportError, match=r"coll\.parquet holds a cogdex index.*overwrite=True"):
        coll.export(tmp_path)
    _survives(tmp_path, files)


def test_export_dot_writes_into_the_working_folder(coll, tmp_path, monkeypatch):
    files = _user_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    written = coll.export(".")
    assert Path(written).resolve() == tmp_path / "coll.parquet"
    _survives(tmp_path, files)
    _is_index_of(tmp_path / "coll.parquet", coll)


def test_export_to_a_new_folder_with_a_trailing_slash_creates_it(coll, tmp_path):
    written = coll.export(f"{tmp_path}/new/deeper/")
    assert Path(written) == tmp_path / "new" / "deeper" / "coll.parquet"
    _is_index_of(written, coll)


def test_a_foreign_file_is_never_replaced(coll, tmp_path):
    files = _user_folder(tmp_path)
    for name in ("notes.txt", "mine.parquet"):
        for overwrite in (False, True):
            with pytest.raises(ExportError, match=rf"{name} exists and is not a cogdex"):
                coll.export(tmp_path / name, overwrite=overwrite)
    _survives(tmp_path, files)


def test_an_index_is_replaced_only_with_overwrite(coll, tmp_path):
    path = Path(coll.export(tmp_path / "idx.parquet"))
    before = path.read_bytes()
    with pytest.raises(ExportError, match="overwrite=True"):
        coll.where(pc.field("id") == coll.ids[0]).export(path)
    assert path.read_bytes() == before
    coll.where(pc.field("id") == coll.ids[0]).export(path, overwrite=True)
    assert cogdex.load(path).ids == coll.ids[:1]


def test_a_partitioned_index_folder_is_the_target_not_a_folder_to_write_into(coll, tmp_path):
    folder = Path(coll.export(tmp_path / "parts", partition=True))
    assert folder.is_dir() and all(p.suffix == ".parquet" for p in folder.iterdir())
    with pytest.raises(ExportError, match="holds a cogdex index"):
        coll.export(folder)
    assert Path(coll.export(folder, overwrite=True, partition=True)) == folder
    _is_index_of(folder, coll)
    (folder / "README.txt").write_text("mine")  # now a user's folder, with index files inside
    written = coll.export(folder, overwrite=True)
    assert Path(written) == folder / "coll.parquet"
    assert (folder / "README.txt").read_text() == "mine"


@pytest.mark.parametrize("partition", [True, False])
def test_a_streamed_write_stopped_midway_leaves_the_index_and_the_folder_as_they_were(
    coll, tmp_path, monkeypatch, partition
):
    """An export streams its rows a few row groups at a time: killed after some have
    landed, the previous index (and the user's files beside it) stay as they were."""
    from cogdex.index import store

    files = _user_folder(tmp_path)
    target = Path(coll.export(tmp_path / "idx", partition=partition))
    before = {p: p.read_bytes() for p in ([target] if target.is_file() else target.iterdir())}
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 2)
    monkeypatch.setattr(store, "GATHER_ROWS", 2)
    gathered = []
    original = store._Gather.__call__

    def interrupted(self, rows):  # the second batch of rows never arrives
        if gathered:
            raise KeyboardInterrupt("killed mid-write")
        gathered.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(store._Gather, "__call__", interrupted)
    shuffled = coll[list(range(len(coll)))[::-1]]  # not in file order: rows are gathered
    with pytest.raises(KeyboardInterrupt):
        shuffled.export(target, overwrite=True, partition=partition)
    assert gathered == [2]
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["idx", "notes.txt", "labels", "mine.parquet"]
    )
    if target.is_dir():
        assert sorted(target.iterdir()) == sorted(before)
    _survives(tmp_path, files)
    _is_index_of(target, coll)


def test_an_empty_partitioned_export_is_refused_and_writes_nothing(coll, tmp_path):
    empty = coll.where(pc.field("id") == "no such scene")
    target = tmp_path / "empty"
    with pytest.raises(IndexWriteError, match="without partition=True"):
        empty.export(target, partition=True)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    assert len(cogdex.load(empty.export(tmp_path / "empty.parquet"))) == 0


def test_an_unusable_name_asks_for_a_path(coll, tmp_path):
    odd = cogdex.as_collection(coll.to_arrow(), name="../../escape")
    with pytest.raises(ExportError, match=r"cannot name a file.*index\.parquet"):
        odd.export(f"{tmp_path}/")
    assert list(tmp_path.iterdir()) == []
    assert Path(odd.export(tmp_path / "ok.parquet")).is_file()


def test_cli_export_keeps_a_user_folder_and_refuses_in_one_line(coll, tmp_path, capsys):
    cache = Path(coll.location).parent.parent
    files = _user_folder(tmp_path)
    assert main(["collections", "export", "coll", str(tmp_path), "--cache-dir", str(cache)]) == 0
    _survives(tmp_path, files)
    _is_index_of(tmp_path / "coll.parquet", coll)
    capsys.readouterr()
    code = main(["collections", "export", "coll", str(tmp_path / "notes.txt"), "--cache-dir",
                 str(cache)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "not a cogdex index" in err
    assert main(["collections", "export", "coll", str(tmp_path), "--overwrite", "--cache-dir",
                 str(cache)]) == 0  # fmt: skip
    _survives(tmp_path, files)


def test_s3_export_into_a_prefix_and_never_over_a_foreign_object(coll, s3_server, tmp_path):
    import obstore

    from cogdex.io.stores import stores

    options = s3_server.options
    store, _, _ = stores().resolve(f"s3://{s3_server.bucket}/user/", options)
    obstore.put(store, "user/notes.txt", b"mine")
    written = coll.export(f"s3://{s3_server.bucket}/user/", store_options=options)
    assert written == f"s3://{s3_server.bucket}/user/coll.parquet"
    back = cogdex.load(written, store_options=options, cache_dir=tmp_path)
    assert sorted(back.ids) == sorted(coll.ids)
    with pytest.raises(ExportError, match="overwrite=True"):
        coll.export(written, store_options=options)
    coll.export(written, store_options=options, overwrite=True)
    for overwrite in (False, True):
        with pytest.raises(ExportError, match="not a cogdex index"):
            coll.export(
                f"s3://{s3_server.bucket}/user/notes.txt",
                store_options=options,
                overwrite=overwrite,
            )
    assert bytes(obstore.get(store, "user/notes.txt").bytes()) == b"mine"


def test_same_name_other_arguments_is_a_clash_not_a_silent_replace(stac_files, tmp_path):
    kwargs = {"name": "delhi", "cache_dir": tmp_path}
    first = cogdex.build_from_stac(stac_files.items_json, bands=["B04"], **kwargs)
    before = (first.location, sorted(first.ids), first.bands)
    with pytest.raises(BuildError, match=r"'delhi'.*built with other arguments.*force=True"):
        cogdex.build_from_stac(stac_files.items_json, bands=["B08"], **kwargs)
    assert (first.location, sorted(first.ids), first.bands) == before
    again = cogdex.build_from_stac(stac_files.items_json, bands=["B04"], **kwargs)
    assert sorted(again.ids) == before[1]
    forced = cogdex.build_from_stac(stac_files.items_json, bands=["B08"], force=True, **kwargs)
    assert forced.bands == ["B08"]


def test_a_changed_static_source_rebuilds_under_the_same_name(stac_files, tmp_path):
    source = tmp_path / "items.json"
    source.write_bytes(Path(stac_files.items_json).read_bytes())
    kwargs = {"name": "static", "bands": ["B04"], "cache_dir": tmp_path / "cache"}
    first = cogdex.build_from_stac(source, **kwargs)
    key = first.metadata.cache_key
    os.utime(source, ns=(0, 10**18))  # the file "changed": same arguments, new freshness
    rebuilt = cogdex.build_from_stac(source, **kwargs)
    assert rebuilt.metadata.cache_key.split(".")[0] == key.split(".")[0]
    assert rebuilt.metadata.cache_key != key


def test_a_live_collection_refuses_to_read_a_rebuilt_index(stac_files, scenes, tmp_path):
    kwargs = {"name": "live", "cache_dir": tmp_path}
    all_scenes = cogdex.build_from_stac(stac_files.items_json, bands=["B04"], **kwargs)
    loaded = cogdex.load(all_scenes.location)
    ids = loaded.ids  # the light rows are read: what a notebook has after a first look
    some = [s.id for s in scenes.scenes if s.epsg == 32644]
    cogdex.build_from_stac(stac_files.items_json, bands=["B04"], ids=some, force=True, **kwargs)
    assert sorted(cogdex.load(all_scenes.location).ids) == sorted(some)
    with pytest.raises(StaleIndexError, match=r"changed since index .* was loaded"):
        loaded.band_source("B04")
    with pytest.raises(StaleIndexError):
        cogdex.load(all_scenes.location).ids and loaded.where(pc.field("id") == ids[0]).to_arrow()


def test_a_replaced_partition_file_is_detected(coll, tmp_path):
    path = Path(coll.export(tmp_path / "x.parquet"))
    loaded = cogdex.load(path)
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 1), path)  # edited in place, same path
    with pytest.raises(StaleIndexError):
        len(loaded.to_arrow())


def test_loading_a_missing_remote_index_says_there_is_none(s3_server, tmp_path):
    from cogdex.errors import IndexSchemaError

    url = f"s3://{s3_server.bucket}/nowhere/none.parquet"
    with pytest.raises(IndexSchemaError, match=f"no index at {url}"):
        cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path)


def test_a_folder_of_several_exports_is_a_folder_not_an_index(coll, tmp_path):
    """Overwriting one export in a folder of exports never takes the others with it."""
    first = Path(coll.export(tmp_path))
    other = cogdex.as_collection(coll.to_arrow(), name="other")
    second = Path(other.export(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coll.parquet", "other.parquet"]
    assert Path(coll.export(tmp_path, overwrite=True)) == first
    assert second.is_file() and sorted(cogdex.load(second).ids) == sorted(coll.ids)
    # the cache's own folder of collections is such a folder too
    cache = Path(coll.location).parent
    assert Path(other.export(cache)) == cache / "other.parquet"
    assert Path(coll.location).is_file()


def test_writing_into_a_partitioned_index_is_refused(coll, tmp_path):
    folder = Path(coll.export(tmp_path / "idx", partition=True))
    with pytest.raises(ExportError, match="partitioned cogdex index, not a folder"):
        coll.export(f"{folder}/")
    assert sorted(cogdex.load(folder).ids) == sorted(coll.ids)  # no row twice


def test_a_deleted_collection_stays_deleted(stac_files, tmp_path):
    from cogdex.index import store
    from cogdex.index.cache import delete_cached, list_cached

    built = cogdex.build_from_stac(
        stac_files.items_json, name="gone", bands=["B04"], cache_dir=tmp_path
    )
    path = Path(built.location)
    aside = store._set_aside(path)  # what a swap killed after its second rename leaves
    aside.write_bytes(path.read_bytes())
    delete_cached("gone", tmp_path)
    assert [c.name for c in list_cached(tmp_path)] == []
    assert not path.exists() and not aside.exists()


def test_s3_single_file_export_over_a_partitioned_one_loads_the_new_rows(coll, s3_server, tmp_path):
    url = f"s3://{s3_server.bucket}/reexport/idx"
    options = s3_server.options
    coll.export(url, store_options=options, partition=True)
    one = coll.where(pc.field("id") == coll.ids[0])
    one.export(url, store_options=options, overwrite=True, partition=False)
    back = cogdex.load(url, store_options=options, cache_dir=tmp_path)
    assert back.ids == [coll.ids[0]]


def test_loading_an_unchanged_remote_index_again_keeps_earlier_collections_readable(
    coll, s3_server, tmp_path
):
    url = f"s3://{s3_server.bucket}/again/idx.parquet"
    coll.export(url, store_options=s3_server.options)
    first = cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path)
    second = cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path)
    assert first.to_arrow().num_rows == second.to_arrow().num_rows == len(coll)
    first.band_source("B04")


def test_other_store_options_rebuild_rather_than_clash(stac_files, tmp_path):
    """How the files are reached (a timeout, an endpoint) is not another query."""
    kwargs = {"name": "opts", "bands": ["B04"], "cache_dir": tmp_path}
    first = cogdex.build_from_stac(stac_files.items_json, **kwargs)
    again = cogdex.build_from_stac(
        stac_files.items_json, store_options={"timeout": "120s"}, **kwargs
    )
    assert sorted(again.ids) == sorted(first.ids)
    assert again.metadata.cache_key.split(".")[0] == first.metadata.cache_key.split(".")[0]


def test_an_edited_item_file_of_a_static_catalog_rebuilds_under_the_same_name(stac_files, tmp_path):
    """The cache key's freshness has the stat of the file named only: an item file of a
    catalog edited since the build left the same call loading the old records."""
    links = []
    for item in stac_files.items[:2]:
        (tmp_path / f"{item['id']}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{item['id']}.json"})
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps({"type": "Catalog", "id": "c", "description": "d", "links": links})
    )
    kwargs = {"name": "catalog", "bands": ["B04"], "cache_dir": tmp_path / "cache"}
    first = cogdex.build_from_stac(catalog, **kwargs)
    assert sorted(first.ids) == sorted(i["id"] for i in stac_files.items[:2])
    assert cogdex.build_from_stac(catalog, **kwargs).metadata == first.metadata  # cached
    edited = {**stac_files.items[1], "id": "renamed"}
    (tmp_path / f"{stac_files.items[1]['id']}.json").write_text(json.dumps(edited))
    again = cogdex.build_from_stac(catalog, **kwargs)
    assert sorted(again.ids) == sorted([stac_files.items[0]["id"], "renamed"])
    assert cogdex.build_from_stac(catalog, **kwargs).metadata == again.metadata  # cached


def test_a_subset_exported_over_the_cached_file_is_not_taken_for_the_build(stac_files, tmp_path):
    """The export kept the build's cache key: the same build call then loaded the subset
    as if it were the build's whole result."""
    kwargs = {"name": "full", "bands": ["B04"], "cache_dir": tmp_path}
    full = cogdex.build_from_stac(stac_files.items_json, **kwargs)
    full[:2].export(full.location, overwrite=True)
    assert cogdex.load(full.location).metadata.cache_key is None
    again = cogdex.build_from_stac(stac_files.items_json, **kwargs)
    assert sorted(again.ids) == sorted(full.ids)
