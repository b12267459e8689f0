"""Local files that are missing, empty or cut short: a typed error naming the file at once,
never retries (the disk gives the same answer every time)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cogdex
from cogdex.errors import FetchError, MalformedTIFF, NotFoundError, TruncatedTIFF
from cogdex.io import fetch
from tests.servers.scenes import SceneSet


@pytest.fixture
def cog(scenes: SceneSet, tmp_path: Path) -> Path:
    """A private copy of one scene's COG, free to be cut or deleted."""
    return Path(shutil.copy(scenes.scenes[0].files["B04"], tmp_path / "B04.tif"))


def test_a_missing_file_is_not_found_at_once(tmp_path):
    path = tmp_path / "missing.tif"
    with fetch.recording() as rec, pytest.raises(NotFoundError, match=re.escape(str(path))):
        cogdex.open(path)
    assert (rec.requests, rec.retries) == (1, 0)


def test_any_local_error_is_raised_at_once(tmp_path):
    """A disk is not a network: what fails once fails again (here a file in the way)."""
    (tmp_path / "file").write_bytes(b"")
    path = tmp_path / "file" / "x.tif"
    with fetch.recording() as rec, pytest.raises(FetchError, match="Not a directory"):
        cogdex.open(path)
    assert (rec.requests, rec.retries) == (1, 0)


@pytest.mark.parametrize("content", [b"", b"II*\x00", b"II*\x00\x08\x00\x00\x00\x20\x00"])
def test_an_empty_or_short_file_is_a_tiff_error(tmp_path, content):
    path = tmp_path / "short.tif"
    path.write_bytes(content)
    with fetch.recording() as rec, pytest.raises(MalformedTIFF, match=re.escape(str(path))):
        cogdex.open(path)
    assert rec.retries == 0


def test_a_file_cut_after_open_is_truncated_on_read(cog):
    image = cogdex.open(cog)
    cog.write_bytes(cog.read_bytes()[: image.header.size // 2])
    with fetch.recording() as rec, pytest.raises(TruncatedTIFF, match=re.escape(str(cog))):
        image.read()
    assert rec.retries == 0


def test_a_file_deleted_after_open_is_not_found_on_read(cog):
    image = cogdex.open(cog)
    cog.unlink()
    with fetch.recording() as rec, pytest.raises(NotFoundError, match=re.escape(str(cog))):
        image.read(window=(0, 0, 64, 64))
    assert rec.retries == 0


def test_a_build_skips_missing_and_empty_files_and_names_them(scenes, tmp_path):
    good = [s.files["stack"] for s in scenes.scenes[:2]]
    missing, empty = tmp_path / "missing.tif", tmp_path / "empty.tif"
    empty.write_bytes(b"")
    paths = [*good, missing, empty]
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(len(paths))],
            "datetime": [s.datetime for s in scenes.scenes[: len(paths)]],
            "path": [str(p) for p in paths],
        }
    )
    pq.write_table(table, tmp_path / "files.parquet")
    with fetch.recording() as rec:
        coll = cogdex.build_from_table(
            tmp_path / "files.parquet", name="local", bands={"B04": ("data", 2)}, cache=False
        )
    assert rec.retries == 0
    assert sorted(coll.ids) == ["r0", "r1"]
    reasons = {s["href"]: s["reason"] for s in coll.skipped if s["href"]}
    assert reasons[str(missing)].startswith("NotFoundError: ")
    assert reasons[str(empty)].startswith("TruncatedTIFF: ")
