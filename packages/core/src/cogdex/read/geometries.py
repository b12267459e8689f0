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

from cogdex.index import arrays as A
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
        return shapely.from_wkb(A.to_numpy(array))
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return shapely.from_wkt(A.to_numpy(array))
    if kind == "geoarrow.point" or (kind is None and _is_xy_struct(array.type)):
        if pa.types.is_struct(array.type):
            x = A.to_numpy(array.field(0))
            y = A.to_numpy(array.field(1))
        else:  # fixed-size list interleaved xy
            xy = A.to_numpy(array.flatten()).reshape(len(array), -1)
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


def as_points(
    points: Any,
    geometry_crs: int | str = 4326,
    *,
    x_column: str = "x",
    y_column: str = "y",
    id_column: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | pa.ChunkedArray]:
    """(lon, lat, point ids) as numpy arrays from Shapely points, an (xs, ys) pair of arrays,
    or an Arrow table (or anything with `__arrow_c_stream__`, e.g. Polars, DuckDB) with x/y
    columns or a WKB/GeoArrow geometry column. Ids are `id_column`'s values, else 0..n-1."""
    ids = None
    if (
        isinstance(points, tuple)
        and len(points) == 2
        and all(isinstance(p, np.ndarray | list) for p in points)
    ):
        x = np.asarray(points[0], dtype=np.float64)
        y = np.asarray(points[1], dtype=np.float64)
    elif isinstance(points, pa.Table) or hasattr(points, "__arrow_c_stream__"):
        table = points  # `pa.table(stream)` would import pandas to rule out a DataFrame
        if not isinstance(points, pa.Table):
            table = pa.RecordBatchReader.from_stream(points).read_all()
        if x_column in table.column_names and y_column in table.column_names:
            x = A.to_numpy(table.column(x_column)).astype(np.float64)
            y = A.to_numpy(table.column(y_column)).astype(np.float64)
        else:
            geom = next((c for c in ("geometry", "geom", "wkb") if c in table.column_names), None)
            if geom is None:
                raise KeyError(
                    f"the points table needs {x_column!r}/{y_column!r} columns or a geometry "
                    f"column; it has {table.column_names}"
                )
            x, y = _xy(_from_arrow(table.column(geom)))
        if id_column is not None:
            if id_column not in table.column_names:
                raise KeyError(f"no id column {id_column!r} in the points table")
            ids = table.column(id_column)
    else:
        x, y = _xy(as_geometries(points, 4326) if _is_bbox(points) else _point_array(points))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of one length, got {x.shape} and {y.shape}")
    if geometry_crs not in (4326, "EPSG:4326", "epsg:4326", "OGC:CRS84"):
        x, y = (np.asarray(v) for v in transformer(geometry_crs, 4326).transform(x, y))
    return x, y, np.arange(len(x), dtype=np.int64) if ids is None else ids


def _point_array(points: Any) -> np.ndarray:
    if hasattr(points, "to_crs") and getattr(points, "crs", None) is not None:
        return as_geometries(points)
    if isinstance(points, shapely.Geometry):
        return np.array([points], dtype=object)
    return np.asarray(list(points), dtype=object)


def _xy(shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kinds = shapely.get_type_id(shapes)
    if np.any(kinds != 0):  # 0 = Point
        bad = int(np.flatnonzero(kinds != 0)[0])
        raise ValueError(
            f"point {bad} is a {shapely.get_type_id(shapes[bad])!r}-type geometry, not a Point"
        )
    coords = shapely.get_coordinates(shapes)
    return coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
