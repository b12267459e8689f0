"""What users pass as areas or points -> Shapely geometries in lon/lat (EPSG:4326).

Accepted: a (xmin, ymin, xmax, ymax) tuple, a Shapely geometry or a sequence of them, WKB
bytes, WKT strings, a pyarrow array of WKB/WKT or GeoArrow (WKB, WKT or native point
coordinates), and GeoPandas GeoSeries/GeoDataFrames (their own CRS wins). Geometries in
another CRS (`geometry_crs`) are transformed to lon/lat once, here.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from cogdex.read.grid import transformer


def _is_bbox(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 4
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )


def _from_arrow(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = getattr(array.type, "extension_name", None)
    if kind is not None:
        array = array.storage
    if kind in (None, "geoarrow.wkb", "ogc.wkb") and pa.types.is_binary(
        array.type
    ) | pa.types.is_large_binary(array.type):
        return shapely.from_wkb(array.to_numpy(zero_copy_only=False))
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return shapely.from_wkt(array.to_numpy(zero_copy_only=False))
    if kind == "geoarrow.point" or (kind is None and _is_xy_struct(array.type)):
        if pa.types.is_struct(array.type):
            x = array.field(0).to_numpy(zero_copy_only=False)
            y = array.field(1).to_numpy(zero_copy_only=False)
        else:  # fixed-size list interleaved xy
            xy = array.flatten().to_numpy(zero_copy_only=False).reshape(len(array), -1)
            x, y = xy[:, 0], xy[:, 1]
        return shapely.points(x, y)
    raise TypeError(
        f"cannot read geometries from an Arrow array of type {array.type}; use WKB, WKT or "
        "GeoArrow points"
    )


def _is_xy_struct(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) and [t.field(i).name for i in range(min(2, t.num_fields))] == [
        "x",
        "y",
    ]


def _one(value: Any, position: int) -> shapely.Geometry:
    if isinstance(value, shapely.Geometry):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return shapely.from_wkb(bytes(value))
    if isinstance(value, str):
        return shapely.from_wkt(value)
    if _is_bbox(value):
        return shapely.box(*value)
    raise TypeError(f"geometry {position}: cannot read a geometry from {type(value).__name__}")


def as_geometries(geometries: Any, geometry_crs: int | str = 4326) -> np.ndarray:
    """A 1-D object array of Shapely geometries in lon/lat; raises on empty or missing ones."""
    crs: Any = geometry_crs
    if hasattr(geometries, "to_crs") and getattr(geometries, "crs", None) is not None:
        geometries = geometries.to_crs(4326)  # GeoPandas: its own CRS
        geometries = getattr(geometries, "geometry", geometries)
        crs = 4326
    if hasattr(geometries, "geometry") and not isinstance(geometries, shapely.Geometry):
        geometries = geometries.geometry
    if _is_bbox(geometries) or isinstance(geometries, shapely.Geometry | bytes | str):
        shapes = np.array([_one(geometries, 0)], dtype=object)
    elif isinstance(geometries, pa.Array | pa.ChunkedArray):
        shapes = _from_arrow(geometries)
    elif isinstance(geometries, np.ndarray) and geometries.dtype != object:
        raise TypeError("a numeric array is not a geometry; pass a bbox tuple or Shapely objects")
    elif isinstance(geometries, Iterable):
        shapes = np.array([_one(g, i) for i, g in enumerate(geometries)], dtype=object)
    else:
        raise TypeError(f"cannot read geometries from {type(geometries).__name__}")
    if shapes.size == 0:
        raise ValueError("no geometries given")
    bad = np.flatnonzero(shapely.is_missing(shapes) | shapely.is_empty(shapes))
    if bad.size:
        raise ValueError(f"geometry {int(bad[0])} is empty or missing")
    if crs not in (4326, "EPSG:4326", "epsg:4326", "OGC:CRS84"):
        to_lonlat = transformer(crs, 4326)
        shapes = shapely.transform(
            shapes, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
        )
    return shapes
