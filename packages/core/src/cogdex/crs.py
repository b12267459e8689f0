"""CRS values as PROJ reads them: parsed once per process, compared, transformed between.

A CRS travels through cogdex as an EPSG code or a string (WKT, PROJJSON, an authority
name), plain data that pickles; pyproj objects are built from it here, once, behind caches
that the index build (footprints in lon/lat) and every read (grids, geometries, points)
share. pyproj is imported on first use, not with this module.
"""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cogdex.errors import CRSError

if TYPE_CHECKING:
    import pyproj

_EPSG = re.compile(r"(?i)^\s*epsg:(\d+)\s*$")


def normalise_crs(crs: int | str | pyproj.CRS) -> int | str:
    """An EPSG code when the CRS is exactly one, else the string as given (or WKT)."""
    # A pyproj.CRS exists only once pyproj is imported; while another thread imports it,
    # the module is already in sys.modules without its CRS class.
    crs_type = getattr(sys.modules.get("pyproj"), "CRS", None)
    if crs_type is not None and isinstance(crs, crs_type):
        code = crs.to_epsg(min_confidence=100)
        return code if code is not None else crs.to_wkt()
    if isinstance(crs, bool) or not isinstance(crs, int | np.integer | str):
        raise TypeError(f"crs must be an EPSG code, a CRS string or a pyproj.CRS, not {crs!r}")
    if isinstance(crs, str):
        m = _EPSG.match(crs)
        return int(m.group(1)) if m else crs
    return int(crs)


@lru_cache(maxsize=256)
def to_crs(crs: int | str) -> pyproj.CRS:
    """The pyproj CRS of a grid's `crs` value, built once per process; a value PROJ cannot
    read is a `CRSError` naming it."""
    import pyproj

    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        shown = crs if isinstance(crs, int) or len(crs) < 80 else crs[:77] + "..."
        raise CRSError(f"PROJ cannot read the CRS {shown!r}: {exc}") from None


@lru_cache(maxsize=1024)
def same_crs(a: int | str, b: int | str) -> bool:
    """Whether two CRS values describe the same coordinates (names and axis order aside)."""
    if a == b:
        return True
    return to_crs(a).equals(to_crs(b), ignore_axis_order=True)


@lru_cache(maxsize=256)
def transformer(src: int | str, dst: int | str) -> pyproj.Transformer:
    """PROJ's (lon, lat)-ordered transformer from `src` to `dst`, built once per process
    and vectorised over arrays. Sharing it between threads is safe: since pyproj 3.1 a
    `Transformer` keeps one PROJ object per thread (`TransformerLocal`, a
    `threading.local`), so concurrent calls never share PROJ state. The caches are cleared
    in a forked child, which builds its own."""
    import pyproj

    return pyproj.Transformer.from_crs(to_crs(src), to_crs(dst), always_xy=True)


def to_lonlat(shapes: np.ndarray, crs: int | str) -> np.ndarray:
    """Shapely `shapes` in `crs` moved to lon/lat vertex by vertex, polygons across the
    antimeridian cut into the two-part MultiPolygons RFC 7946 asks for.

    Such a polygon's lon/lat rings jump between +180 and -180: taken as they come they
    enclose the rest of the globe, which spatial filters meet everywhere but on the shape.
    Its winding, which the jump hides, comes from `crs`; the `antimeridian` library cuts
    it (imported only then). Shapes off a projection's disk (not finite) stay as they are.
    """
    import shapely

    move = transformer(crs, 4326)

    def lonlat(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(move.transform(xy[:, 0], xy[:, 1]))

    out = shapely.transform(shapes, lonlat)
    bounds = shapely.bounds(out).reshape(-1, 4)
    for i in np.flatnonzero(bounds[:, 2] - bounds[:, 0] > 180):
        coords = [shapely.get_coordinates(r)[:, 0] for r in _rings(out.flat[i])]
        if not any(np.abs(np.diff(c)).max(initial=0) > 180 for c in coords if np.isfinite(c).all()):
            continue
        import antimeridian
        from shapely.geometry.polygon import orient

        parts = [
            antimeridian.fix_polygon(shapely.transform(orient(p, 1.0), lonlat))
            for p in shapely.get_parts(shapes.flat[i])
        ]
        out.flat[i] = shapely.multipolygons(
            [q for p in parts for q in shapely.get_parts(p)]  # each cut polygon's sides
        )
    return out


def _rings(shape: Any) -> list[Any]:
    """The rings of a Polygon or MultiPolygon (none for other shapes: never cut)."""
    import shapely

    if shapely.get_type_id(shape) not in (3, 6):
        return []
    return list(shapely.get_rings(shapely.get_parts(shape)))


def _clear_caches() -> None:
    for cached in (to_crs, same_crs, transformer):
        cached.cache_clear()


os.register_at_fork(after_in_child=_clear_caches)


__all__ = ["normalise_crs", "same_crs", "to_crs", "to_lonlat", "transformer"]
