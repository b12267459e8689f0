"""The one check every bbox argument goes through (subset, reads, builds, the CLI).

A reversed or swapped box is a silent wrong answer elsewhere (all records, none, or an empty
array), so it is refused where it enters, with the argument's name and values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from cogdex.errors import GeometryError

Bbox = tuple[float, float, float, float]


def is_geographic(crs: Any) -> bool:
    """Whether `crs` has lon/lat coordinates (PROJ says, except for the lon/lat default)."""
    if crs == 4326:  # the default: no numpy/shapely/pyproj import for a plain lon/lat bbox
        return True
    from cogdex.crs import normalise_crs, to_crs

    return bool(to_crs(normalise_crs(crs)).is_geographic)


def check_bbox(value: Any, name: str = "bbox", crs: Any = 4326) -> Bbox:
    """`value` as (xmin, ymin, xmax, ymax) floats, or a `GeometryError` naming `name` and
    the values: 4 finite numbers, min <= max on both axes, and for a geographic `crs`
    longitudes in [-180, 180] and latitudes in [-90, 90]."""
    geographic = is_geographic(crs)
    problem = _problem(value, geographic)
    if problem is None:
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    units = " in lon/lat" if geographic else f" in {crs}"
    raise GeometryError(
        f"{name} must be (xmin, ymin, xmax, ymax){units}, got {_show(value)}: {problem}",
        argument=name,
    )


def _problem(value: Any, geographic: bool) -> str | None:
    try:
        items = list(value)
    except TypeError:
        return "not a sequence of 4 numbers"
    if len(items) != 4 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items
    ):
        return "not 4 numbers"
    xmin, ymin, xmax, ymax = (float(v) for v in items)
    if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))):
        return "not all finite"
    if xmin > xmax:
        return "xmin > xmax (split a box across the antimeridian into two)"
    if ymin > ymax:
        return "ymin > ymax"
    if geographic and not (-180 <= xmin and xmax <= 180 and -90 <= ymin and ymax <= 90):
        return "outside lon [-180, 180] / lat [-90, 90] (lat and lon swapped?)"
    return None


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
