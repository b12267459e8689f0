"""The examples in docs/torchgeo.md and docs/xarray.md run, on the local HTTP server, and
compute what they say."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).parents[2] / "docs"
MARK = "<!-- runs in tests/adapters/test_adapter_docs.py -->"


def _example(name: str) -> str:
    """The python block right after the marker in docs/`name` (exactly one)."""
    blocks = re.findall(re.escape(MARK) + r"\n```python\n(.*?)```", (DOCS / name).read_text(), re.S)
    assert len(blocks) == 1, f"{name} should have one tested example"
    return blocks[0]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # fork, as documented
def test_torchgeo_training_loop_example(adapter_coll, capsys):
    scope = {"collection": adapter_coll}
    exec(_example("torchgeo.md"), scope)
    losses = scope["losses"]
    assert len(losses) == 2 * 48 // 8
    assert losses[-1] < losses[0] / 2  # it learns
    assert "12 steps" in capsys.readouterr().out


def test_xarray_ndvi_example(adapter_coll, capsys):
    scope = {"collection": adapter_coll}
    exec(_example("xarray.md"), scope)
    series = scope["ndvi_series"]
    assert series.sizes["time"] == 4  # four days, two records each
    # the same NDVI from the pixel API's time series
    data, _ = adapter_coll.get_time_series(scope["aoi"], ["B04", "B08"])
    red, nir = data[:, 0].astype(np.float64), data[:, 1].astype(np.float64)
    valid = (red != 0) & (nir != 0)
    ndvi = np.where(valid, (nir - red) / np.where(valid, nir + red, 1), np.nan)
    np.testing.assert_allclose(series.to_numpy(), np.nanmean(ndvi, axis=(1, 2)), rtol=1e-5)
    per_pixel = scope["ndvi"].compute().to_numpy()
    finite = per_pixel[np.isfinite(per_pixel)]
    assert finite.size and finite.min() >= -1 and finite.max() <= 1
    assert str(series.to_series().round(3).iloc[0]) in capsys.readouterr().out
