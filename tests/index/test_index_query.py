"""A cold `load(...).subset(...)` parses each footer once and loads no I/O runtime."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow.parquet as pq

import cogdex


def test_a_cold_subset_reads_each_footer_once(stac_files, tmp_path, monkeypatch):
    """The file `open_index` opened (its footer parsed) serves the first read of that file;
    a cold subset imports no I/O runtime, which it never uses."""
    built = cogdex.build_from_stac(
        stac_files.items_json, name="query", bands=["B04"], cache_dir=tmp_path
    )
    opened, parsed = [], []
    real_read, real_file = pq.read_metadata, pq.ParquetFile

    class Recording(real_file):  # the real reader, noting each footer it parses
        def __init__(self, source, *args, **kwargs):
            opened.append(source)
            super().__init__(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_metadata", lambda *a, **k: parsed.append(a) or real_read(*a, **k))
    monkeypatch.setattr(pq, "ParquetFile", Recording)
    coll = cogdex.load(built.location)
    assert coll.subset(cloud_cover_lt=101).ids == built.ids
    assert opened == [built.location] and not parsed  # open_index's reader: one parse
    assert not coll._files.opened  # then let go
    assert coll.subset(cloud_cover_lt=50).ids == built.subset(cloud_cover_lt=50).ids
    assert opened == [built.location] * 2  # a later read opens the file again
    script = textwrap.dedent(f"""
        import sys
        import cogdex
        sub = cogdex.load({str(built.location)!r}).subset(
            bbox=(77, 19, 79, 21), date_range=("2020-01-01", "2030-01-01"), cloud_cover_lt=101)
        assert len(sub) == {len(built)} and sub.ids
        for module in ("pandas", "cogdex.io.runtime"):
            assert module not in sys.modules, module
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
