"""An index survives what kills or breaks a write, and says which file when it cannot.

A writer or a delete killed midway (in a subprocess, between the two renames of a folder
swap), a load between a live writer's renames, temporaries of killed writes, names with
control characters, damaged pages and footers, full disks, unwritable folders and buckets.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import cogdex
from cogdex.errors import (
    BuildError,
    ExportError,
    IndexSchemaError,
    IndexWriteError,
    StaleIndexError,
    StoreError,
)
from cogdex.index import build, store
from cogdex.index.cache import collection_path, delete_cached, list_cached
from cogdex.index.store import check_name


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "a\tb", "ab\x00", "\nabc", "abc\x1b"])
def test_a_name_with_a_control_character_is_refused(name):
    with pytest.raises(BuildError, match="must be 1-128"):
        check_name(name)


@pytest.fixture(scope="module")
def coll(stac_files, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cogdex.build_from_stac(
        stac_files.items_json, name="coll", bands=["B04"], cache_dir=cache
    )


_KILLED_AFTER_FIRST_RENAME = """
import os, sys
import cogdex

real = os.replace

def replace(src, dst):
    real(src, dst)
    os._exit(9)  # killed: no handler, no finally runs

os.replace = replace
source, target, partition = sys.argv[1], sys.argv[2], sys.argv[3] == "folder"
cogdex.load(source).export(target, overwrite=True, partition=partition)
"""


def _kill_export(source: Path, target: Path, layout: str) -> None:
    script = [sys.executable, "-c", _KILLED_AFTER_FIRST_RENAME, str(source), str(target), layout]
    assert subprocess.run(script, check=False).returncode == 9


def _age(folder: Path, seconds: float) -> None:
    """Date every hidden entry under `folder` `seconds` back, as if it were left that long."""
    then = time.time() - seconds
    for entry in folder.glob(".*"):
        for p in (entry, *entry.rglob("*")):
            os.utime(p, (then, then))


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("before", ["file", "folder"])
@pytest.mark.parametrize("after", ["file", "folder"])
def test_a_writer_killed_mid_replace_leaves_the_previous_or_the_new_index(
    coll, tmp_path, before, after
):
    new = coll.head(2)
    source = Path(new.export(tmp_path / "new.parquet"))
    target = Path(coll.export(tmp_path / "index.parquet", partition=before == "folder"))
    _kill_export(source, target, after)
    assert sorted(cogdex.load(target).ids) in (sorted(coll.ids), sorted(new.ids))
    assert target.exists()
    # the next write finds the index in place and, once the killed writer's temporary is
    # stale, leaves nothing hidden behind
    _age(tmp_path, 3600)
    coll.export(target, overwrite=True, partition=after == "folder")
    assert sorted(cogdex.load(target).ids) == sorted(coll.ids)
    assert _hidden(tmp_path) == []


def test_an_export_without_overwrite_refuses_an_index_a_killed_writer_moved_aside(coll, tmp_path):
    target = Path(coll.export(tmp_path / "index.parquet", partition=True))
    _kill_export(Path(coll.head(2).export(tmp_path / "new.parquet")), target, "file")
    with pytest.raises(ExportError, match="overwrite=True"):
        coll.export(target)
    assert sorted(cogdex.load(target).ids) == sorted(coll.ids)


def test_a_build_finds_its_cached_index_after_a_killed_rebuild(stac_files, tmp_path, monkeypatch):
    built = cogdex.build_from_stac(
        stac_files.items_json, name="c", bands=["B04"], cache_dir=tmp_path
    )
    path = collection_path("c", tmp_path)
    folder = Path(built.export(tmp_path / "parts.parquet", partition=True))
    _kill_export(folder, path, "folder")
    assert not path.exists()  # moved aside, the new folder not yet in place
    monkeypatch.setattr(build, "build_rows", pytest.fail)  # the cache answers, no rebuild
    again = cogdex.build_from_stac(
        stac_files.items_json, name="c", bands=["B04"], cache_dir=tmp_path
    )
    assert Path(again.location) == path and sorted(again.ids) == sorted(built.ids)


def test_a_load_between_a_writers_renames_reads_the_previous_index(coll, tmp_path, monkeypatch):
    target = Path(coll.export(tmp_path / "index.parquet", partition=True))
    real = os.replace
    seen = []

    def replace(src, dst):
        real(src, dst)
        if Path(src) == target:  # set aside: a reader comes now
            seen.append(sorted(cogdex.load(target).ids))

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(IndexWriteError, match=re.escape(str(target))):
        coll.head(2).export(target, overwrite=True)
    monkeypatch.undo()
    assert seen == [sorted(coll.ids)]
    assert sorted(cogdex.load(target).ids) == sorted(coll.ids)
    assert _hidden(tmp_path) == []


def test_the_cache_lists_and_deletes_an_index_a_killed_writer_set_aside(stac_files, tmp_path):
    built = cogdex.build_from_stac(
        stac_files.items_json, name="c", bands=["B04"], cache_dir=tmp_path
    )
    path = collection_path("c", tmp_path)
    _kill_export(Path(built.export(tmp_path / "parts.parquet", partition=True)), path, "folder")
    assert [c.name for c in list_cached(tmp_path)] == ["c"]
    assert delete_cached("c", tmp_path) == path
    assert list_cached(tmp_path) == []
    with pytest.raises(IndexSchemaError, match="no index at"):
        cogdex.load(path)


def test_stale_temporaries_go_and_a_live_writers_stay(coll, tmp_path):
    target = Path(coll.export(tmp_path / "index.parquet"))
    hour_ago = time.time() - 3600
    stale_file = tmp_path / ".index.parquet.tmp-0123456789ab"
    stale_folder = tmp_path / ".index.parquet.tmp-ba9876543210"
    live = tmp_path / ".index.parquet.tmp-aaaaaaaaaaaa"
    old = tmp_path / ".index.parquet.old-1-bbbbbbbbbbbb"
    other = tmp_path / ".other.parquet.tmp-cccccccccccc"
    for p in (stale_file, live, other):
        p.write_bytes(b"partial")
    stale_folder.mkdir()
    (stale_folder / "2020.parquet").write_bytes(b"partial")
    old.mkdir()
    for p in (stale_file, stale_folder / "2020.parquet", stale_folder, other):
        os.utime(p, (hour_ago, hour_ago))
    coll.export(target, overwrite=True)
    assert _hidden(tmp_path) == [live.name, other.name]


def _flip(path: Path, column: str) -> None:
    """Invert 16 bytes in the middle of `column`'s data in the first row group."""
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(
        meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column
    )
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


def _largest_asset_column(path: Path) -> str:
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunks = [meta.column(i) for i in range(meta.num_columns)]
    assets = [c for c in chunks if c.path_in_schema.startswith("assets.")]
    return max(assets, key=lambda c: c.total_compressed_size).path_in_schema


def test_corrupted_light_rows_name_the_file(coll, tmp_path):
    path = Path(coll.export(tmp_path / "index.parquet"))
    _flip(path, "id")
    loaded = cogdex.load(path)  # the footer is intact
    with pytest.raises(IndexSchemaError, match=f"{re.escape(str(path))}.*row group 0"):
        _ = loaded.ids


def test_corrupted_assets_name_the_file(coll, tmp_path):
    folder = Path(coll.export(tmp_path / "index.parquet", partition=True))
    damaged = sorted(folder.iterdir())[0]
    _flip(damaged, _largest_asset_column(damaged))
    loaded = cogdex.load(folder)
    assert len(loaded.ids) == len(coll)  # light rows read fine
    with pytest.raises(IndexSchemaError, match=f"{re.escape(str(damaged))}.*row group 0"):
        loaded.band_source("B04")


def test_a_corrupted_footer_names_the_file(coll, tmp_path):
    path = Path(coll.export(tmp_path / "index.parquet"))
    path.write_bytes(path.read_bytes()[:-12] + b"\xff" * 8 + b"PAR1")
    with pytest.raises(IndexSchemaError, match=f"{re.escape(str(path))} is not a Parquet file"):
        cogdex.load(path)


def test_a_later_files_damaged_footer_names_it_when_read(coll, tmp_path):
    folder = Path(coll.export(tmp_path / "index.parquet", partition=True))
    damaged = next(folder.iterdir())
    (folder / "1999.parquet").write_bytes(damaged.read_bytes())  # read first, on load
    damaged.write_bytes(damaged.read_bytes()[:-12] + b"\xff" * 8 + b"PAR1")
    loaded = cogdex.load(folder)
    with pytest.raises(IndexSchemaError, match=f"{re.escape(str(damaged))} .*its footer"):
        _ = loaded.ids


def _full_disk(table, meta, target, rows):
    Path(target).write_bytes(b"PAR1 partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))


@pytest.mark.parametrize("partition", [False, True])
def test_a_full_disk_is_a_write_error_naming_the_index_and_keeps_the_previous(
    coll, tmp_path, monkeypatch, partition
):
    path = Path(coll.export(tmp_path / "index.parquet"))
    before = path.read_bytes()
    monkeypatch.setattr(store, "_write_file", _full_disk)
    with pytest.raises(IndexWriteError, match=f"{re.escape(str(path))}.*No space left") as err:
        coll.head(2).export(path, overwrite=True, partition=partition)
    assert err.value.path == str(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["index.parquet"]


def _arrow_full_disk(table, meta, target, rows):
    Path(target).write_bytes(b"PAR1 partial")
    detail = f"Failed to write {target}. Detail: [errno 28] No space left on device"
    raise OSError(errno.ENOSPC, detail)  # as Arrow raises it


def test_a_full_disk_during_a_cached_build_names_the_cache_file(stac_files, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_write_file", _arrow_full_disk)
    path = collection_path("full", tmp_path)
    with pytest.raises(IndexWriteError, match=f"{re.escape(str(path))}: No space left on device$"):
        cogdex.build_from_stac(
            stac_files.items_json, name="full", bands=["B04"], cache_dir=tmp_path
        )
    assert not path.exists()


def test_an_unwritable_folder_is_a_write_error(coll, tmp_path):
    (tmp_path / "file").write_bytes(b"not a folder")
    target = tmp_path / "file" / "index.parquet"
    with pytest.raises(IndexWriteError, match=re.escape(str(target))):
        coll.export(target)
    assert (tmp_path / "file").read_bytes() == b"not a folder"


def test_a_missing_bucket_is_a_typed_error_naming_the_url(coll, s3_server):
    url = "s3://no-such-bucket/index.parquet"
    with pytest.raises(StoreError, match=f"cannot check {re.escape(url)}: "):
        coll.export(url, store_options=s3_server.options)
    for partition in (False, True):
        with pytest.raises(IndexWriteError, match=f"cannot write the index {re.escape(url)}: "):
            store.write(coll.to_arrow(), coll.metadata, url, partition=partition,
                        store_options=s3_server.options)  # fmt: skip


def test_a_download_folder_that_cannot_be_written_is_a_write_error(coll, s3_server, tmp_path):
    url = f"s3://{s3_server.bucket}/reliability/index.parquet"
    coll.export(url, store_options=s3_server.options, overwrite=True)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(IndexWriteError, match=f"{re.escape(str(tmp_path / 'file'))}.*: Not a dir"):
        cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path / "file")
    assert len(cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path)) == len(coll)


def test_a_remote_index_keeps_two_downloaded_versions_and_pinned_copies_go_stale(
    coll, s3_server, tmp_path
):
    url = f"s3://{s3_server.bucket}/reliability/versions.parquet"
    loaded = []
    for n in (1, 2, 3, 4):  # four versions of one remote index, each loaded once
        coll.head(n).export(url, store_options=s3_server.options, overwrite=True)
        loaded.append(cogdex.load(url, store_options=s3_server.options, cache_dir=tmp_path))
        assert len(loaded[-1]) == n
    (folder,) = (tmp_path / "remote").iterdir()
    assert len(list(folder.iterdir())) == store.KEEP_DOWNLOADS
    assert len(loaded[2].to_arrow()) == 3  # the version before the last is still readable
    with pytest.raises(StaleIndexError):
        loaded[0].to_arrow()  # its copy was pruned: an error, never another version's rows


_KILLED_MID_DELETE = """
import os, sys
from cogdex.index.cache import delete_cached

real = os.unlink

def unlink(*args, **kwargs):
    real(*args, **kwargs)
    os._exit(9)

os.unlink = unlink
delete_cached(sys.argv[1], sys.argv[2])
"""


def test_a_delete_killed_midway_leaves_no_part_of_a_folder_index(coll, tmp_path):
    path = collection_path("c", tmp_path)
    path.parent.mkdir(parents=True)
    folder = Path(coll.export(path, partition=True))
    year = next(folder.iterdir())
    (folder / "1999.parquet").write_bytes(year.read_bytes())  # a second year
    script = [sys.executable, "-c", _KILLED_MID_DELETE, "c", str(tmp_path)]
    assert subprocess.run(script, check=False).returncode == 9
    with pytest.raises(IndexSchemaError, match="no index at"):
        cogdex.load(path)
    assert list_cached(tmp_path) == []
