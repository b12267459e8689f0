"""The demo's quick-look PNG, drawn with numpy and shapely and written by imagecodecs (core's
own dependencies: the demo must write it wherever cogdex is installed, without a plotting
library).

Two panels side by side: on the left the scene footprints (a tint per UTM zone, darker
where scenes overlap, outlined) with the AOI as a red box, on a lon/lat canvas whose x axis
is shrunk by cos(latitude) so that shapes keep their proportions; on the right an NDVI image
of the AOI, scaled up to the panel's height (brown 0 or less, green 0.8 or more, grey where
no pixel is valid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import imagecodecs
import numpy as np
import shapely

PANEL = 320  # px, the height of the image and the width of each panel
GAP = 16  # px of white between the panels
WIDTH = 2 * PANEL + GAP
WHITE = np.array([255, 255, 255], np.float64)
RED = np.array([220, 30, 30], np.uint8)
NODATA = np.array([200, 200, 200], np.uint8)
BROWN = np.array([150, 100, 40], np.float64)
GREEN = np.array([20, 140, 50], np.float64)
# One tint per CRS, in the order the CRSs first appear among the footprints.
TINTS = np.array([[40, 110, 220], [240, 140, 20], [150, 60, 200], [20, 170, 170]], np.float64)


@dataclass(frozen=True)
class Canvas:
    """The left panel's lon/lat extent: pixel (row, col) has its centre at
    (west + (col + 0.5) * step / cos(lat0), north - (row + 0.5) * step)."""

    west: float
    north: float
    step: float  # degrees of latitude per pixel
    coslat: float

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """The lon and lat of every pixel centre, each [PANEL, PANEL]."""
        i = np.arange(PANEL) + 0.5
        lon = self.west + i * self.step / self.coslat
        lat = self.north - i * self.step
        return np.meshgrid(lon, lat)


def canvas(shapes: Sequence[shapely.Geometry]) -> Canvas:
    """The square extent that holds `shapes` (lon/lat) with a margin of a twentieth."""
    west, south, east, north = shapely.total_bounds(shapes)
    coslat = float(np.cos(np.radians((south + north) / 2)))
    span = max((east - west) * coslat, north - south) * 1.1
    cx, cy = (west + east) / 2, (south + north) / 2
    return Canvas(cx - span / 2 / coslat, cy + span / 2, span / PANEL, coslat)


def _outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` that have a 4-neighbour outside it."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    return mask & ~inner


def footprints_panel(
    footprints: Sequence[shapely.Geometry], crs: Sequence[str], aoi: shapely.Geometry
) -> tuple[np.ndarray, Canvas]:
    """The left panel [PANEL, PANEL, 3] uint8, and its extent."""
    extent = canvas([*footprints, aoi])
    lon, lat = extent.centres()
    zones = list(dict.fromkeys(crs))
    rgb = np.broadcast_to(WHITE, (PANEL, PANEL, 3)).copy()
    edges = np.zeros((PANEL, PANEL), bool)
    for shape, zone in zip(footprints, crs, strict=True):
        inside = shapely.contains_xy(shape, lon, lat)
        tint = TINTS[zones.index(zone) % len(TINTS)]
        rgb[inside] = 0.7 * rgb[inside] + 0.3 * tint  # each scene over a pixel darkens it
        edges |= _outline(inside)
    rgb[edges] = 0.4 * rgb[edges]
    out = rgb.round().astype(np.uint8)
    box = _outline(shapely.contains_xy(aoi, lon, lat))
    out[box | np.roll(box, 1, axis=0) | np.roll(box, 1, axis=1)] = RED  # 2 px wide
    return out, extent


def ndvi_panel(ndvi: np.ndarray) -> np.ndarray:
    """The right panel [PANEL, PANEL, 3] uint8: `ndvi` [H, W] (NaN where invalid) scaled
    by nearest neighbour to fit, centred on white."""
    h, w = ndvi.shape
    scale = PANEL / max(h, w)
    rows = np.minimum((np.arange(round(h * scale)) / scale).astype(int), h - 1)
    cols = np.minimum((np.arange(round(w * scale)) / scale).astype(int), w - 1)
    big = ndvi[rows[:, None], cols[None, :]]
    t = np.clip(np.nan_to_num(big, nan=0.0) / 0.8, 0, 1)[..., None]
    image = ((1 - t) * BROWN + t * GREEN).round().astype(np.uint8)
    image[np.isnan(big)] = NODATA
    out = np.full((PANEL, PANEL, 3), 255, np.uint8)
    top, left = (PANEL - image.shape[0]) // 2, (PANEL - image.shape[1]) // 2
    out[top : top + image.shape[0], left : left + image.shape[1]] = image
    return out


def quicklook(
    footprints: Sequence[shapely.Geometry],
    crs: Sequence[str],
    aoi: shapely.Geometry,
    ndvi: np.ndarray,
) -> tuple[bytes, Canvas]:
    """The PNG [PANEL, WIDTH] of both panels, and the footprint panel's extent."""
    left, extent = footprints_panel(footprints, crs, aoi)
    image = np.full((PANEL, WIDTH, 3), 255, np.uint8)
    image[:, :PANEL] = left
    image[:, PANEL + GAP :] = ndvi_panel(ndvi)
    return bytes(imagecodecs.png_encode(image)), extent


__all__ = [
    "GAP",
    "PANEL",
    "WIDTH",
    "Canvas",
    "quicklook",
]
