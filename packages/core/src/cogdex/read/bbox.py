"""The one check every bbox argument goes through (subset, reads, builds, the CLI).

A reversed or swapped box is a silent wrong answer elsewhere (all records, none, or an empty
array), so it is refused where it enters, with the argument's name, the coordinate at fault
and its value.

A lon/lat box whose west is greater than its east crosses the antimeridian (RFC 7946 and the
STAC API write it so: `(170, -20, -170, -10)` is the 20 degrees from 170E to 170W). Filters
and searches take it (`across=True`) and mean its two sides, `index.query.sides`; a read's
area does not, as its output grid would cross 180 degrees in lon/lat.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from cogdex.errors import GeometryError

Bbox = tuple[float, float, float, float]

_NAMES = ("xmin", "ymin", "xmax", "ymax")


def is_geographic(crs: Any) -> bool:
    """Whether `crs` has lon/lat coordinates (PROJ says, except for the lon/lat default)."""
    if crs == 4326:  # the default: no numpy/shapely/pyproj import for a plain lon/lat bbox
        return True
    from cogdex.crs import normalise_crs, to_crs

    return bool(to_crs(normalise_crs(crs)).is_geographic)


def check_bbox(value: Any, name: str = "bbox", crs: Any = 4326, *, across: bool = False) -> Bbox:
    """`value` as (xmin, ymin, xmax, ymax) floats, or a `GeometryError` naming `name`, the
    coordinate at fault and the values: 4 finite numbers, ymin <= ymax, xmin <= xmax, and for
    a geographic `crs` longitudes in [-180, 180] and latitudes in [-90, 90].

    `across`: a lon/lat box with xmin > xmax crosses the antimeridian (a filter's box, meant
    as its two sides); without it such a box is refused with what to pass instead."""
    geographic = is_geographic(crs)
    problem = _problem(value, geographic, across and geographic)
    if problem is None:
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    units = " in lon/lat" if geographic else f" in {crs}"
    raise GeometryError(
        f"{name} must be (xmin, ymin, xmax, ymax){units}, got {_show(value)}: {problem}",
        argument=name,
    )


def _problem(value: Any, geographic: bool, across: bool) -> str | None:
    try:
        items = list(value)
    except TypeError:
        return "not a sequence of 4 numbers"
    if len(items) != 4 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items
    ):
        return "not 4 numbers"
    xmin, ymin, xmax, ymax = box = tuple(float(v) for v in items)
    bad = [f"{k} is {v}" for k, v in zip(_NAMES, box, strict=True) if not math.isfinite(v)]
    if bad:
        return f"not all finite ({', '.join(bad)})"
    if ymin > ymax:
        return f"ymin > ymax (south {ymin:g} > north {ymax:g})"
    if geographic:
        for k, v in (("ymin", ymin), ("ymax", ymax)):
            if not -90 <= v <= 90:
                return f"{k} {v:g} is outside lat [-90, 90] (lat and lon swapped?)"
        for k, v in (("xmin", xmin), ("xmax", xmax)):
            if not -180 <= v <= 180:
                hint = _wrapped((xmin, ymin, xmax, ymax), across)
                return f"{k} {v:g} is outside lon [-180, 180]{hint}"
    if xmin > xmax:
        if not geographic:
            return "xmin > xmax"
        if not across:
            return (
                f"xmin > xmax: west {xmin:g} > east {xmax:g} (swapped?) is a box across the "
                "antimeridian, which a read does not take as a bbox; read its two sides, "
                f"({xmin:g}, {ymin:g}, 180, {ymax:g}) and (-180, {ymin:g}, {xmax:g}, {ymax:g}), "
                "or pass them as one MultiPolygon (RFC 7946) or the area in a projected CRS "
                "(geometry_crs=), read with a crs= continuous across 180 (e.g. a UTM zone 1 "
                "or 60, or 3832); filters take the box: subset(bbox=) and the builds' bbox="
            )
    return None


def _wrapped(box: Bbox, across: bool) -> str:
    """The box written across the antimeridian as RFC 7946 does, where one side went past
    180 degrees (xmax 190 for 170W, or xmin -190 for 170E) and `across` takes it."""
    xmin, ymin, xmax, ymax = box
    if across and -180 <= xmin <= 180 < xmax < xmin + 360:
        xmax -= 360
    elif across and xmax - 360 < xmin < -180 <= xmax <= 180:
        xmin += 360
    else:
        return ""
    return f"; across the antimeridian write west > east: ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})"


def _show(value: Any) -> str:
    try:
        return repr(tuple(float(v) for v in value))
    except (TypeError, ValueError):
        return repr(value)


__all__ = [
    "Bbox",
    "check_bbox",
    "is_geographic",
]
