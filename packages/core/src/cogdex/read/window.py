"""`Window`: a block of pixels, in rasterio's axis order.

One type for every window in cogdex (tile plans, reads, grids, warps), so an offset can
never be read on the wrong axis: x (columns) before y (rows), as rasterio's `Window` and
`GeoTIFF.read(window=(col_off, row_off, width, height))` take them. A plain module with no
dependencies, so any layer may import it.
"""

from __future__ import annotations

from typing import NamedTuple


class Window(NamedTuple):
    """Offsets and size in pixels: `col_off, row_off, width, height` (offsets may be
    negative: a window may hang off its image)."""

    col_off: int
    row_off: int
    width: int
    height: int


__all__ = [
    "Window",
]
