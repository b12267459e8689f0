"""The numeric example in docs/pixels.md runs on the local HTTP server and gives values in
the range it states (an NDVI from uint16 bands that wrapped would not)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

DOC = Path(__file__).parents[2] / "docs" / "pixels.md"
MARK = "<!-- runs in tests/pixels/test_pixel_docs.py -->"


def test_ndvi_example_stays_within_minus_one_and_one(pixel_coll):
    blocks = re.findall(re.escape(MARK) + r"\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    scope = {"collection": pixel_coll, "np": np}
    exec(blocks[0], scope)
    ndvi, data = scope["ndvi"], scope["data"]
    assert data.dtype == np.uint16  # the example's point: integer in, float out
    finite = ndvi[np.isfinite(ndvi)]
    assert finite.size > 0.5 * ndvi.size
    assert finite.min() >= -1 and finite.max() <= 1
    # the pixels where the wrong (wrapping) formula would leave the range do exist here
    red, nir = data[:, 0], data[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        wrapped = (nir - red) / (nir + red)
    assert (wrapped[scope["ok"]] > 1).any()
