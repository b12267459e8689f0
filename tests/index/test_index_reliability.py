"""An index survives what kills or breaks a write, and says which file when it cannot.

A writer killed between the two renames of a folder swap, temporaries of killed writes,
names with control characters, corrupted pages, full disks and unwritable folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cogdex
from cogdex import builds
from cogdex.errors import BuildError, ExportError
from cogdex.index.cache import check_name, collection_path


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
from cogdex import builds

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
    monkeypatch.setattr(builds, "build_rows", pytest.fail)  # the cache answers, no rebuild
    again = cogdex.build_from_stac(
        stac_files.items_json, name="c", bands=["B04"], cache_dir=tmp_path
    )
    assert Path(again.location) == path and sorted(again.ids) == sorted(built.ids)


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
