"""What users pass as areas or points -> Shapely geometries, kept in their own CRS.

Accepted: a (xmin, ymin, xmax, ymax) tuple, a Shapely geometry or a sequence of them, WKB
bytes, WKT strings, GeoJSON (a geometry, Feature or FeatureCollection dict, or any object
with `__geo_interface__`), a pyarrow array of WKB/WKT or GeoArrow (WKB, WKT or native point
coordinates), and GeoPandas GeoSeries/GeoDataFrames.

Their CRS is the object's own (a GeoSeries' `.crs`; EPSG:4326 for GeoJSON, by its spec, or
the one its legacy `crs` member names), else `geometry_crs`, else EPSG:4326; a
`geometry_crs` that contradicts the object's own is an error, never a silent pick.
Geometries stay in that CRS, so a grid in the same CRS is cut from their exact bounds (a
round trip through lon/lat would add a row and a column); `Areas.lonlat` is the copy that
meets the CRS84 footprints of the index.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import shapely

from cogdex.crs import normalise_crs, same_crs, to_lonlat, transformer
from cogdex.errors import EmptyReadWarning, GeometryError
from cogdex.index import arrays as A
from cogdex.index.query import sides
from cogdex.read.bbox import check_bbox
from cogdex.read.grid import densify


@dataclass(frozen=True, eq=False)
class Areas:
    """Geometries in `crs`, which grids and masks are cut from, and their lon/lat copies
    (`lonlat`, densified so projected edges keep their curve) for the index footprints."""

    shapes: np.ndarray
    crs: int | str
    lonlat: np.ndarray

    def __len__(self) -> int:
        return len(self.shapes)


def _is_bbox(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 4
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )


def _is_geopandas(value: Any) -> bool:
    return all(hasattr(value, k) for k in ("to_crs", "geometry", "crs"))


def _is_geojson(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        hasattr(value, "__geo_interface__") and not isinstance(value, shapely.Geometry)
    )


def _from_arrow(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(array, pa.ChunkedArray):
        array = A.contiguous(array)
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


_GEOJSON_GEOMETRIES = frozenset(
    [
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    ]
)


def _geojson(value: Any, name: str) -> list[shapely.Geometry]:
    import shapely.geometry

    doc = value if isinstance(value, Mapping) else value.__geo_interface__
    kind = doc.get("type")
    if kind == "FeatureCollection":
        return [shape for feature in doc.get("features", ()) for shape in _geojson(feature, name)]
    if kind == "Feature":
        if not doc.get("geometry"):
            raise GeometryError(f"{name}: a GeoJSON Feature without a geometry", argument=name)
        return _geojson(doc["geometry"], name)
    if kind not in _GEOJSON_GEOMETRIES:
        raise GeometryError(
            f"{name}: a dict that is not a GeoJSON geometry, Feature or FeatureCollection "
            f"(type {kind!r})",
            argument=name,
        )
    try:
        return [shapely.geometry.shape(doc)]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise GeometryError(f"{name}: a malformed GeoJSON {kind}: {exc!r}", argument=name) from exc


def _one(
    value: Any, position: int, crs: int | str, name: str, across: bool = False
) -> list[shapely.Geometry]:
    if isinstance(value, shapely.Geometry):
        return [value]
    if isinstance(value, bytes | bytearray | memoryview | str):
        try:
            parse = shapely.from_wkt if isinstance(value, str) else shapely.from_wkb
            return [parse(value if isinstance(value, str) else bytes(value))]
        except shapely.errors.GEOSException as exc:
            kind = "WKT" if isinstance(value, str) else "WKB"
            raise GeometryError(f"{name} {position}: not {kind}: {exc}", argument=name) from None
    if _is_bbox(value):
        boxes = sides(check_bbox(value, name, crs, across=across))
        if len(boxes) == 1:
            return [shapely.box(*boxes[0])]
        return [shapely.MultiPolygon([shapely.box(*box) for box in boxes])]
    if _is_geojson(value):
        return _geojson(value, name)
    raise TypeError(f"{name} {position}: cannot read a geometry from {type(value).__name__}")


def _shapes(value: Any, crs: int | str, name: str, across: bool = False) -> np.ndarray:
    if _is_geopandas(value):
        return np.asarray(value.geometry, dtype=object)
    if _is_bbox(value) or isinstance(value, shapely.Geometry | bytes | str) or _is_geojson(value):
        return np.array(_one(value, 0, crs, name, across), dtype=object)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return _from_arrow(value)
    if isinstance(value, np.ndarray) and value.dtype != object:
        raise TypeError("a numeric array is not a geometry; pass a bbox tuple or Shapely objects")
    if isinstance(value, Iterable):
        shapes = [s for i, v in enumerate(value) for s in _one(v, i, crs, name, across)]
        return np.array(shapes, dtype=object)
    raise TypeError(f"cannot read {name} from {type(value).__name__}")


def _own_crs(value: Any) -> Any:
    """The CRS a geometries object carries (GeoPandas' `.crs`, GeoJSON's lon/lat), or None.

    GeoJSON as GDAL and GeoPandas' `to_json` write it may name another CRS in a `crs`
    member (dropped from the spec in RFC 7946, still common): that one is honoured."""
    if _is_geopandas(value):
        return value.crs
    first = value[0] if isinstance(value, list | tuple) and value else value
    if not _is_geojson(first):
        return None
    named = first.get("crs") if isinstance(first, Mapping) else None
    if isinstance(named, Mapping) and named.get("type") == "name":
        from cogdex.crs import to_crs

        return to_crs(str(named.get("properties", {}).get("name")))
    return 4326


def _crs_name(crs: int | str) -> str:
    return f"EPSG:{crs}" if isinstance(crs, int) else crs[:60]


def _resolve_crs(value: Any, geometry_crs: Any, name: str) -> int | str:
    """The CRS of `value`'s coordinates (see the module docstring)."""
    own = _own_crs(value)
    if own is None:
        return normalise_crs(4326 if geometry_crs is None else geometry_crs)
    own = normalise_crs(own)
    if geometry_crs is not None and not same_crs(own, normalise_crs(geometry_crs)):
        raise GeometryError(
            f"{name} carry their own CRS ({_crs_name(own)}) but geometry_crs={geometry_crs!r}; "
            "leave geometry_crs out or reproject them first",
            argument="geometry_crs",
        )
    return own


def _to_lonlat(shapes: np.ndarray, crs: int | str) -> np.ndarray:
    """`shapes` from `crs` to lon/lat, densified first so projected edges keep their curve
    (cut at the antimeridian where they cross it, as index footprints are)."""
    if same_crs(crs, 4326):
        return shapes
    return to_lonlat(densify(shapes), crs)


def as_areas(
    geometries: Any, geometry_crs: Any = None, *, name: str = "geometries", across: bool = False
) -> Areas:
    """`geometries` as `Areas`; raises on empty or missing geometries, and on coordinates
    outside lon/lat ranges once in lon/lat. `Areas` pass through (their CRS must agree).

    `across`: a lon/lat bbox with west > east is the MultiPolygon of its two sides (a
    filter's area); without it, it is refused (a read's grid cannot cross 180 in lon/lat)."""
    if isinstance(geometries, Areas):
        if geometry_crs is not None and not same_crs(geometries.crs, normalise_crs(geometry_crs)):
            raise GeometryError(
                f"{name} are in {_crs_name(geometries.crs)}, not {geometry_crs!r}",
                argument="geometry_crs",
            )
        return geometries
    crs = _resolve_crs(geometries, geometry_crs, name)
    shapes = _shapes(geometries, crs, name, across)
    if shapes.size == 0:
        raise GeometryError(f"no {name} given", argument=name)
    bad = np.flatnonzero(shapely.is_missing(shapes) | shapely.is_empty(shapes))
    if bad.size:
        raise GeometryError(f"{name}: geometry {int(bad[0])} is empty or missing", argument=name)
    lonlat = _to_lonlat(shapes, crs)
    check_bbox(shapely.total_bounds(lonlat), f"{name} (bounds in lon/lat)")
    return Areas(shapes, crs, lonlat)


def warn_empty(what: str, bounds: Any, crs: int | str) -> None:
    """The `EmptyReadWarning` of a read that found no record, pointed at the caller's line."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    warnings.warn(
        f"no record of the collection covers {what} with bounds ({xmin:.10g}, {ymin:.10g}, "
        f"{xmax:.10g}, {ymax:.10g}) in {_crs_name(crs)}: the result is empty",
        EmptyReadWarning,
        skip_file_prefixes=_package_dirs(),
    )


def _package_dirs() -> tuple[str, ...]:
    """Folders of cogdex and its adapter packages, whose frames a warning skips."""
    dirs = []
    for key, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and (key == "cogdex" or key.startswith("cogdex_")) and "." not in key:
            dirs.append(os.path.dirname(path))
    return tuple(dirs)


class Points(NamedTuple):
    """Points in lon/lat (which meet the index footprints), their ids, and the coordinates
    as given (`x`, `y` in `crs`), which grids in that CRS locate without a round trip."""

    lon: np.ndarray
    lat: np.ndarray
    ids: np.ndarray | pa.ChunkedArray
    x: np.ndarray
    y: np.ndarray
    crs: int | str


def as_points(
    points: Any,
    geometry_crs: Any = None,
    *,
    x_column: str = "x",
    y_column: str = "y",
    id_column: str | None = None,
) -> Points:
    """`Points` from Shapely points, an (xs, ys) pair of arrays, GeoPandas, GeoJSON, or an
    Arrow table (or anything with `__arrow_c_stream__`, e.g. Polars, DuckDB) with x/y
    columns or a WKB/GeoArrow geometry column. Ids are `id_column`'s values (of a table or
    GeoDataFrame), else 0..n-1."""
    ids = None
    crs = _resolve_crs(points, geometry_crs, "points")
    if (
        isinstance(points, tuple)
        and len(points) == 2
        and all(isinstance(p, np.ndarray | list) for p in points)
    ):
        x = np.asarray(points[0], dtype=np.float64)
        y = np.asarray(points[1], dtype=np.float64)
    elif _is_geopandas(points) or _is_geojson(points):
        # before the Arrow stream: pandas objects have one, which cannot hold geometries
        x, y = _xy(_shapes(points, crs, "points"))
        if id_column is not None:
            if id_column not in getattr(points, "columns", ()):
                raise KeyError(f"no id column {id_column!r} in the points")
            ids = pa.chunked_array([pa.array(points[id_column])])  # pandas is loaded here
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
        x, y = _xy(_shapes(points, crs, "points"))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of one length, got {x.shape} and {y.shape}")
    lon, lat = x, y
    if not same_crs(crs, 4326):
        lon, lat = (np.asarray(v) for v in transformer(crs, 4326).transform(x, y))
    known = np.isfinite(lon) & np.isfinite(lat)
    if known.any():
        bounds = (lon[known].min(), lat[known].min(), lon[known].max(), lat[known].max())
        check_bbox(bounds, "points (bounds in lon/lat)")
    return Points(lon, lat, np.arange(len(x), dtype=np.int64) if ids is None else ids, x, y, crs)


def _xy(shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kinds = shapely.get_type_id(shapes)
    if np.any(kinds != 0):  # 0 = Point
        bad = int(np.flatnonzero(kinds != 0)[0])
        raise ValueError(f"point {bad} is a {shapes[bad].geom_type}, not a Point")
    coords = shapely.get_coordinates(shapes)
    return coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)


__all__ = [
    "Areas",
    "Points",
    "as_areas",
    "as_points",
    "warn_empty",
]
