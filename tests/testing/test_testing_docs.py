"""The example in docs/testing.md runs as written and does what the text around it says:
the COG reads back as written, the scenes build into a two-zone collection, the server
answers ranged GETs and counts them, and stops at the end of the `with` block."""

from __future__ import annotations

import re
import socket
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DOC = Path(__file__).parents[2] / "docs" / "testing.md"
MARK = "<!-- runs in tests/testing/test_testing_docs.py -->"


def test_testing_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    blocks = re.findall(re.escape(MARK) + r"\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its mkdtemp() lands here
    scope: dict[str, Any] = {}
    exec(blocks[0], scope)

    pixels = scope["pixels"]
    assert pixels.shape == (1, 600, 600) and np.array_equal(pixels[0], scope["ramp"])
    coll = scope["coll"]
    assert len(coll) == 4 and sorted(coll.crs) == ["EPSG:32643", "EPSG:32644"]
    data = scope["data"]
    assert data.shape[:2] == (4, 2) and data.any()
    ranged = scope["ranged"]
    assert ranged and all(ranged)
    server = scope["server"]
    assert 0 < server.bytes_sent < sum(p.stat().st_size for p in tmp_path.rglob("*.tif"))
    printed = capsys.readouterr().out
    assert re.fullmatch(rf"{len(ranged)} requests, all with a Range: True, [\d,]+ bytes for "
                        r"\(4, 2, \d+, \d+\)\n", printed)  # fmt: skip
    host, port = server.server_address[:2]
    with pytest.raises(ConnectionRefusedError):  # stopped: the port is free
        socket.create_connection((host, port), timeout=5).close()
