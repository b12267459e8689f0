"""GeoKeyDirectory + model tags -> CRS and geotransform, as GDAL interprets them.

The common case, a file that names an EPSG code and nothing that changes it, needs no PROJ
lookup beyond one cached unit check, so headers parse in microseconds. User-defined systems
are written out as GDAL would build them (WKT1 in GDAL's dialect: its projection and
parameter names, datum names from the citation keys, TOWGS84) and handed to PROJ through
pyproj, which stores the result as PROJJSON. Quirks followed on purpose, because GDAL has
them: PixelIsPoint shifts the origin by half a pixel; several tie points without a pixel
scale are GCPs, not a transform; TOWGS84 is dropped when the datum is an EPSG one; an EPSG
projected system whose linear units the file overrides is no longer that EPSG code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeGuard

import numpy as np

from cogdex.tiff import tags as T

# GeoKey ids (GeoTIFF 1.0 names; 1.1 renamed some, same numbers).
GT_MODEL_TYPE = 1024
GT_RASTER_TYPE = 1025
GT_CITATION = 1026
GEOGRAPHIC_TYPE = 2048
GEOG_CITATION = 2049
GEOG_GEODETIC_DATUM = 2050
GEOG_PRIME_MERIDIAN = 2051
GEOG_LINEAR_UNITS = 2052
GEOG_ANGULAR_UNITS = 2054
GEOG_ANGULAR_UNIT_SIZE = 2055
GEOG_ELLIPSOID = 2056
GEOG_SEMI_MAJOR_AXIS = 2057
GEOG_SEMI_MINOR_AXIS = 2058
GEOG_INV_FLATTENING = 2059
GEOG_PRIME_MERIDIAN_LONG = 2061
GEOG_TOWGS84 = 2062
PROJECTED_CS_TYPE = 3072
PCS_CITATION = 3073
PROJECTION = 3074
PROJ_COORD_TRANS = 3075
PROJ_LINEAR_UNITS = 3076
PROJ_LINEAR_UNIT_SIZE = 3077
PROJ_STD_PARALLEL1 = 3078
PROJ_STD_PARALLEL2 = 3079
PROJ_NAT_ORIGIN_LONG = 3080
PROJ_NAT_ORIGIN_LAT = 3081
PROJ_FALSE_EASTING = 3082
PROJ_FALSE_NORTHING = 3083
PROJ_FALSE_ORIGIN_LONG = 3084
PROJ_FALSE_ORIGIN_LAT = 3085
PROJ_FALSE_ORIGIN_EASTING = 3086
PROJ_FALSE_ORIGIN_NORTHING = 3087
PROJ_CENTER_LONG = 3088
PROJ_CENTER_LAT = 3089
PROJ_CENTER_EASTING = 3090
PROJ_CENTER_NORTHING = 3091
PROJ_SCALE_AT_NAT_ORIGIN = 3092
PROJ_SCALE_AT_CENTER = 3093
PROJ_AZIMUTH_ANGLE = 3094
PROJ_STRAIGHT_VERT_POLE_LONG = 3095
PROJ_RECTIFIED_GRID_ANGLE = 3096

USER_DEFINED = 32767
MODEL_PROJECTED = 1
MODEL_GEOGRAPHIC = 2
MODEL_GEOCENTRIC = 3
RASTER_PIXEL_IS_POINT = 2

GeoKeys = Mapping[int, Any]


def parse_directory(
    directory: np.ndarray, doubles: np.ndarray | None, ascii_params: str | None
) -> dict[int, Any]:
    """GeoKeyDirectory (+ its double and ASCII parameter tags) -> {key id: value}.

    A value is an int (SHORT in the directory), a float or tuple of floats (double
    params), or a str (ASCII params, without libgeotiff's trailing '|'). Entries pointing
    outside their parameter tag are dropped, as libgeotiff does.
    """
    keys: dict[int, Any] = {}
    if directory.size < 4:
        return keys
    dirs = directory.astype(np.int64)
    count = min(int(dirs[3]), (dirs.size - 4) // 4)
    for i in range(count):
        key, location, n, value = (int(v) for v in dirs[4 + 4 * i : 8 + 4 * i])
        if location == 0:
            keys[key] = value
        elif location == T.GEO_DOUBLE_PARAMS and doubles is not None:
            if n >= 1 and value + n <= doubles.size:
                vals = tuple(float(v) for v in doubles[value : value + n])
                keys[key] = vals[0] if n == 1 else vals
        elif location == T.GEO_ASCII_PARAMS and ascii_params is not None:
            if value + n <= len(ascii_params):
                text = ascii_params[value : value + n]
                keys[key] = text.rstrip("|\0")
        elif location == T.GEO_KEY_DIRECTORY and value + n <= dirs.size:
            keys[key] = tuple(int(v) for v in dirs[value : value + n])
    return keys


# --------------------------------------------------------------------------- transform


def geotransform(
    keys: GeoKeys,
    pixel_scale: np.ndarray | None,
    tiepoints: np.ndarray | None,
    matrix: np.ndarray | None,
) -> tuple[
    tuple[float, float, float, float, float, float] | None,
    tuple[tuple[float, float, float, float, float], ...],
]:
    """(affine transform or None, GCPs) from the model tags, as GDAL derives them."""
    point = keys.get(GT_RASTER_TYPE) == RASTER_PIXEL_IS_POINT
    gt: list[float] | None = None
    gcps: tuple[tuple[float, float, float, float, float], ...] = ()
    if (
        tiepoints is not None
        and tiepoints.size >= 6
        and pixel_scale is not None
        and pixel_scale.size >= 2
        and pixel_scale[0] != 0
        and pixel_scale[1] != 0
    ):
        # GDAL ignores the sign of the Y scale: rows always go down (south-up grids need
        # ModelTransformation).
        sx, sy = float(pixel_scale[0]), abs(float(pixel_scale[1]))
        i, j, x, y = (float(v) for v in tiepoints[[0, 1, 3, 4]])
        gt = [x - i * sx, sx, 0.0, y + j * sy, 0.0, -sy]
    elif matrix is not None and matrix.size >= 16:
        m = [float(v) for v in matrix[:16]]
        gt = [m[3], m[0], m[1], m[7], m[4], m[5]]
    elif tiepoints is not None and tiepoints.size >= 6:
        n = tiepoints.size // 6
        pts = tiepoints[: n * 6].reshape(n, 6)
        gcps = tuple((float(p[0]), float(p[1]), float(p[3]), float(p[4]), float(p[5])) for p in pts)
    if gt is None or not all(math.isfinite(v) for v in gt):
        return None, gcps
    if point:
        gt[0] -= (gt[1] + gt[2]) * 0.5
        gt[3] -= (gt[4] + gt[5]) * 0.5
    return (gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]), gcps


# --------------------------------------------------------------------------------- CRS


def crs(keys: GeoKeys) -> int | str | None:
    """The CRS the keys describe: an EPSG code, a PROJJSON string, or None.

    None when there are no keys, or PROJ rejects what they describe (GDAL then reports
    no CRS either).
    """
    if not keys:
        return None
    try:
        return _crs(keys)
    except _Rejected:
        return None


def epsg_code(crs: int | str | None) -> int | None:
    """The EPSG code GDAL (rasterio) reports for a CRS `crs()` returned: the file's own code,
    or the one PROJ identifies for a user-defined CRS (see `_identify`)."""
    if crs is None or isinstance(crs, int):
        return crs
    return _identify(crs)


@functools.lru_cache(maxsize=256)
def _identify(definition: str) -> int | None:
    """rasterio's `to_epsg()`: PROJ's matches among all authorities (for a BoundCRS, of its
    source, as GDAL holds it) with confidence 70 or more, the first EPSG one. An ESRI CRS
    matched exactly by its ESRI code gets none."""
    import pyproj

    crs = pyproj.CRS(definition)
    if crs.is_bound and crs.source_crs is not None:
        crs = crs.source_crs
    for match in crs.list_authority(min_confidence=70):
        if match.auth_name == "EPSG" and match.code.isdigit():
            return int(match.code)
    return None


class _Rejected(Exception):
    """PROJ cannot build the CRS the keys describe."""


def _key_int(keys: GeoKeys, key: int) -> int | None:
    value = keys.get(key)
    return value if isinstance(value, int) else None


def _key_float(keys: GeoKeys, key: int) -> float | None:
    value = keys.get(key)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return float(value) if isinstance(value, int | float) else None


def _key_text(keys: GeoKeys, key: int) -> str | None:
    value = keys.get(key)
    return value if isinstance(value, str) else None


def _coded(code: int | None) -> TypeGuard[int]:
    return code is not None and 0 < code < USER_DEFINED


def _crs(keys: GeoKeys) -> int | str | None:
    model = _key_int(keys, GT_MODEL_TYPE)
    pcs = _key_int(keys, PROJECTED_CS_TYPE)
    if model not in (MODEL_PROJECTED, MODEL_GEOGRAPHIC, MODEL_GEOCENTRIC) and _coded(pcs):
        model = MODEL_PROJECTED
    if model not in (MODEL_PROJECTED, MODEL_GEOGRAPHIC, MODEL_GEOCENTRIC):
        pe = _key_text(keys, PCS_CITATION)
        if pe and "ESRI PE String = " in pe:
            return _projjson(pe.split("ESRI PE String = ", 1)[1])
        name = _key_text(keys, GT_CITATION) or _key_text(keys, GEOG_CITATION) or "unnamed"
        unit = _linear_unit(keys)
        return _projjson(f"LOCAL_CS[{_q(name)},{_unit_wkt(unit)}]")
    if model == MODEL_GEOCENTRIC:
        return _geocentric(keys)
    if model == MODEL_PROJECTED:
        return _projected(keys, pcs)
    return _geographic(keys)


def _projected(keys: GeoKeys, pcs: int | None) -> int | str | None:
    if _coded(pcs):
        assert pcs is not None
        epsg_unit = _epsg_linear_unit(pcs)
        if epsg_unit is None:
            raise _Rejected(f"EPSG:{pcs} is not a projected CRS PROJ knows")
        only_code = not any(
            k in keys
            for k in (
                PROJECTION,
                PROJ_COORD_TRANS,
                GEOGRAPHIC_TYPE,
                GEOG_GEODETIC_DATUM,
                GEOG_ELLIPSOID,
            )
        )
        unit = _linear_unit(keys, default=epsg_unit)
        if not only_code or abs(unit[1] - epsg_unit[1]) <= 1e-15 * unit[1]:
            return pcs
        return _with_linear_unit(pcs, unit)
    pe = _key_text(keys, PCS_CITATION)
    if pe and "ESRI PE String = " in pe:
        return _projjson(pe.split("ESRI PE String = ", 1)[1])
    geog = _geogcs_wkt(keys)
    unit = _linear_unit(keys)
    name = _projcs_name(keys)
    projection = _key_int(keys, PROJECTION)
    if _coded(projection):
        assert projection is not None
        return _projected_from_conversion(name, geog, projection, unit)
    method = _method_wkt(keys)
    if method is None:
        return _projjson(f"LOCAL_CS[{_q(name)},{_unit_wkt(unit)}]")
    wkt = f"PROJCS[{_q(name)},{geog},{method[0]},{_unit_wkt(unit)},{method[1]}]"
    return _projjson(wkt)


def _geographic(keys: GeoKeys) -> int | str | None:
    gcs = _key_int(keys, GEOGRAPHIC_TYPE)
    if _coded(gcs):
        assert gcs is not None
        epsg_angle = _epsg_angular_unit(gcs)
        if epsg_angle is None:
            raise _Rejected(f"EPSG:{gcs} is not a geographic CRS PROJ knows")
        angle = _angular_unit(keys, default=epsg_angle)
        if abs(angle[1] - epsg_angle[1]) <= 1e-12 * angle[1]:
            return gcs
    return _projjson(_geogcs_wkt(keys))


def _geocentric(keys: GeoKeys) -> str | None:
    name = _key_text(keys, GT_CITATION) or _key_text(keys, GEOG_CITATION) or "unnamed"
    p = _geographic_parts(keys)
    unit = _unit_wkt(_linear_unit(keys))
    axes = 'AXIS["Geocentric X",OTHER],AXIS["Geocentric Y",OTHER],AXIS["Geocentric Z",NORTH]'
    return _projjson(f"GEOCCS[{_q(name)},{p.datum},{p.primem},{unit},{axes}]")


# ------------------------------------------------------------------ geographic part


def _citation_names(citation: str | None) -> dict[str, str]:
    """GDAL's "GCS Name = x|Datum = y|Ellipsoid = z|Primem = w|AUnits = u" citation."""
    if not citation:
        return {}
    names: dict[str, str] = {}
    for part in citation.split("|"):
        for label, field in (
            ("GCS Name = ", "gcs"),
            ("Datum = ", "datum"),
            ("Ellipsoid = ", "ellipsoid"),
            ("Primem = ", "primem"),
            ("AUnits = ", "aunits"),
            ("PCS Name = ", "pcs"),
        ):
            at = part.find(label)
            if at >= 0 and field not in names:
                names[field] = part[at + len(label) :]
    if not names:
        names["gcs"] = citation.split("|")[-1] or citation
    return names


def _massage_datum(name: str) -> str:
    """GDAL's WKT1 datum naming: non-alphanumerics (but '+') to '_', runs squeezed."""
    chars = [c if c.isascii() and (c.isalnum() or c == "+") else "_" for c in name]
    out: list[str] = []
    for c in chars:
        if c == "_" and out and out[-1] == "_":
            continue
        out.append(c)
    text = "".join(out).rstrip("_")
    return {
        "Militar_Geographische_Institut": "Militar_Geographische_Institute",
        "World_Geodetic_System_1984": "WGS_1984",
        "WGS_72_Transit_Broadcast_Ephemeris": "WGS_1972_Transit_Broadcast_Ephemeris",
        "World_Geodetic_System_1972": "WGS_1972",
        "European_Terrestrial_Reference_System_89": "European_Reference_System_1989",
    }.get(text, text)


class _GeogParts(NamedTuple):
    """The WKT1 pieces of a geographic CRS (a geocentric CRS reuses datum and meridian)."""

    name: str
    datum: str
    primem: str
    unit: str
    authority: str


def _geogcs_wkt(keys: GeoKeys) -> str:
    """The geographic CRS of the keys as GDAL-dialect WKT1 (with AUTHORITY where coded)."""
    p = _geographic_parts(keys)
    axes = 'AXIS["Latitude",NORTH],AXIS["Longitude",EAST]'
    return f"GEOGCS[{_q(p.name)},{p.datum},{p.primem},{p.unit},{axes}{p.authority}]"


def _geographic_parts(keys: GeoKeys) -> _GeogParts:
    gcs = _key_int(keys, GEOGRAPHIC_TYPE)
    db = _gcs_definition(gcs) if _coded(gcs) else None
    names = {} if db else _citation_names(_key_text(keys, GEOG_CITATION))
    datum_code = _key_int(keys, GEOG_GEODETIC_DATUM)
    if not _coded(datum_code):
        datum_code = db["datum_code"] if db else None
    datum_db = _datum_definition(datum_code) if _coded(datum_code) else None
    ellipsoid_code = _key_int(keys, GEOG_ELLIPSOID)
    if _coded(ellipsoid_code):
        ellipsoid = _ellipsoid_definition(ellipsoid_code)
    else:
        ellipsoid = datum_db["ellipsoid"] if datum_db else None
    semi_major = ellipsoid["a"] if ellipsoid else 0.0
    semi_minor = ellipsoid["b"] if ellipsoid else 0.0
    inv_f = ellipsoid["rf"] if ellipsoid else 0.0
    a_key = _key_float(keys, GEOG_SEMI_MAJOR_AXIS)
    b_key = _key_float(keys, GEOG_SEMI_MINOR_AXIS)
    rf_key = _key_float(keys, GEOG_INV_FLATTENING)
    if a_key is not None:
        semi_major = a_key
        semi_minor = a_key if ellipsoid is None else semi_minor
        inv_f = 0.0 if ellipsoid is None else inv_f
    if rf_key is not None and math.isfinite(rf_key):
        inv_f = rf_key
    elif b_key is not None:
        semi_minor = b_key
        inv_f = 0.0
    if inv_f == 0.0 and semi_major and semi_minor and abs(semi_minor / semi_major - 1) > 1e-17:
        inv_f = semi_major / (semi_major - semi_minor)
    ellipsoid_name = names.get("ellipsoid") or (ellipsoid["name"] if ellipsoid else "unnamed")
    if semi_major == 0.0:
        ellipsoid_name = "unretrievable - using WGS84"
        semi_major, inv_f = 6378137.0, 298.257223563
    # GDAL keeps a citation's datum name as written and massages the others.
    datum_name = names.get("datum") or _massage_datum(datum_db["name"] if datum_db else "unknown")
    pm_code = _key_int(keys, GEOG_PRIME_MERIDIAN)
    pm = _prime_meridian_definition(pm_code) if _coded(pm_code) else None
    pm_name = names.get("primem") or (pm["name"] if pm else "Greenwich")
    pm_lon = pm["longitude"] if pm else 0.0
    unit = _angular_unit(keys, default=(db["angle"] if db else ("degree", math.pi / 180, 9102)))
    pm_lon_key = _key_float(keys, GEOG_PRIME_MERIDIAN_LONG)
    if pm_lon_key is not None and (pm is None or names.get("primem")):
        pm_lon = pm_lon_key * unit[1] / (math.pi / 180)
    gcs_name = names.get("gcs") or (db["name"] if db else None) or datum_name or "unknown"
    towgs84 = keys.get(GEOG_TOWGS84)
    parts = [f"SPHEROID[{_q(ellipsoid_name)},{_num(semi_major)},{_num(inv_f)}"]
    if _coded(ellipsoid_code):
        parts.append(f',AUTHORITY["EPSG","{ellipsoid_code}"]')
    parts.append("]")
    if isinstance(towgs84, tuple) and len(towgs84) in (3, 7) and not _coded(datum_code):
        params = list(towgs84) + [0.0] * (7 - len(towgs84))
        parts.append(f",TOWGS84[{','.join(_num(v) for v in params)}]")
    if _coded(datum_code):
        parts.append(f',AUTHORITY["EPSG","{datum_code}"]')
    datum = f"DATUM[{_q(datum_name)},{''.join(parts)}]"
    pm_in_unit = pm_lon * (math.pi / 180) / unit[1]
    primem = f"PRIMEM[{_q(pm_name)},{_num(pm_in_unit)}]"
    authority = f',AUTHORITY["EPSG","{gcs}"]' if _coded(gcs) else ""
    return _GeogParts(gcs_name, datum, primem, f"UNIT[{_q(unit[0])},{_num(unit[1])}]", authority)


# ------------------------------------------------------------------ projected part


def _projcs_name(keys: GeoKeys) -> str:
    citation = _key_text(keys, PCS_CITATION)
    if citation:
        names = _citation_names(citation)
        return names.get("pcs") or (citation if "=" not in citation else "unnamed")
    return _key_text(keys, GT_CITATION) or "unnamed"


def _param(keys: GeoKeys, *candidates: int, default: float = 0.0) -> float:
    for key in candidates:
        value = _key_float(keys, key)
        if value is not None:
            return value
    return default


_LAT = (PROJ_NAT_ORIGIN_LAT, PROJ_FALSE_ORIGIN_LAT, PROJ_CENTER_LAT)
_LON = (PROJ_NAT_ORIGIN_LONG, PROJ_FALSE_ORIGIN_LONG, PROJ_CENTER_LONG)
_CENTER_LAT = (PROJ_CENTER_LAT, PROJ_NAT_ORIGIN_LAT, PROJ_FALSE_ORIGIN_LAT)
_CENTER_LON = (PROJ_CENTER_LONG, PROJ_NAT_ORIGIN_LONG, PROJ_FALSE_ORIGIN_LONG)
_FE = (PROJ_FALSE_EASTING, PROJ_CENTER_EASTING, PROJ_FALSE_ORIGIN_EASTING)
_FN = (PROJ_FALSE_NORTHING, PROJ_CENTER_NORTHING, PROJ_FALSE_ORIGIN_NORTHING)
_SCALE = (PROJ_SCALE_AT_NAT_ORIGIN, PROJ_SCALE_AT_CENTER)
_CENTER_SCALE = (PROJ_SCALE_AT_CENTER, PROJ_SCALE_AT_NAT_ORIGIN)


_EAST_NORTH = 'AXIS["Easting",EAST],AXIS["Northing",NORTH]'
_WEST_SOUTH = 'AXIS["Westing",WEST],AXIS["Southing",SOUTH]'
_NORTH_POLE = 'AXIS["Easting",SOUTH],AXIS["Northing",SOUTH]'
_SOUTH_POLE = 'AXIS["Easting",NORTH],AXIS["Northing",NORTH]'


def _method_wkt(keys: GeoKeys) -> tuple[str, str] | None:
    """(PROJECTION + PARAMETERs, AXIS pair) for ProjCoordTransGeoKey, as GDAL's OSR setters
    write them (south-oriented TM and polar stereographic get their own axes there too).

    Parameters come in EPSG's order for the method, as GDAL's CRS has them: PROJ keeps the
    order of WKT1 parameters, and identifies EPSG equivalents only in that order.
    """
    ct = _key_int(keys, PROJ_COORD_TRANS)
    p = functools.partial(_param, keys)
    lat, lon = p(*_LAT), p(*_LON)
    clat, clon = p(*_CENTER_LAT), p(*_CENTER_LON)
    fe, fn = p(*_FE), p(*_FN)
    k0 = p(*_SCALE, default=1.0)
    origin = [("latitude_of_origin", lat), ("central_meridian", lon)]
    false = [("false_easting", fe), ("false_northing", fn)]
    method: tuple[str, list[tuple[str, float]]] | None = None
    if ct == 1:
        method = ("Transverse_Mercator", [*origin, ("scale_factor", k0), *false])
    elif ct == 27:
        method = ("Transverse_Mercator_South_Orientated", [*origin, ("scale_factor", k0), *false])
    elif ct == 7:
        if PROJ_STD_PARALLEL1 in keys:
            sp = [("standard_parallel_1", p(PROJ_STD_PARALLEL1))]
            if lat != 0.0:
                sp.append(("latitude_of_origin", lat))
            method = ("Mercator_2SP", [*sp, ("central_meridian", lon), *false])
        elif lat == 0.0:
            method = ("Mercator_1SP", [("central_meridian", lon), ("scale_factor", k0), *false])
        elif k0 == 1.0:
            sp = [("standard_parallel_1", lat), ("central_meridian", lon)]
            method = ("Mercator_2SP", [*sp, *false])
        else:
            # GDAL builds Mercator (variant A) with this origin and PROJ rejects it.
            raise _Rejected("Mercator (1SP) with a latitude of origin and a scale factor")
    elif ct == 16:
        method = ("Oblique_Stereographic", [*origin, ("scale_factor", k0), *false])
    elif ct == 14:
        method = ("Stereographic", [*origin, ("scale_factor", k0), *false])
    elif ct in (3, 9815):
        name = "Hotine_Oblique_Mercator" if ct == 3 else "Hotine_Oblique_Mercator_Azimuth_Center"
        method = (
            name,
            [
                ("latitude_of_center", clat),
                ("longitude_of_center", clon),
                ("azimuth", p(PROJ_AZIMUTH_ANGLE)),
                ("rectified_grid_angle", p(PROJ_RECTIFIED_GRID_ANGLE, default=90.0)),
                ("scale_factor", p(*_CENTER_SCALE, default=1.0)),
                *false,
            ],
        )
    elif ct == 4:
        method = (
            "Laborde_Oblique_Mercator",
            [
                ("latitude_of_center", clat),
                ("longitude_of_center", clon),
                ("azimuth", p(PROJ_AZIMUTH_ANGLE)),
                ("scale_factor", p(*_CENTER_SCALE, default=1.0)),
                *false,
            ],
        )
    elif ct == 13:
        method = (
            "Equidistant_Conic",
            [
                ("latitude_of_center", lat),
                ("longitude_of_center", lon),
                ("standard_parallel_1", p(PROJ_STD_PARALLEL1)),
                ("standard_parallel_2", p(PROJ_STD_PARALLEL2)),
                *false,
            ],
        )
    elif ct in (18, 22, 19, 21, 26):
        name = {
            18: "Cassini_Soldner",
            22: "Polyconic",
            19: "Gnomonic",
            21: "Orthographic",
            26: "New_Zealand_Map_Grid",
        }[ct]
        pair = (
            origin if ct in (18, 22) else [("latitude_of_origin", clat), ("central_meridian", clon)]
        )
        method = (name, [*pair, *false])
    elif ct in (12, 10):
        name = "Azimuthal_Equidistant" if ct == 12 else "Lambert_Azimuthal_Equal_Area"
        method = (name, [("latitude_of_center", clat), ("longitude_of_center", clon), *false])
    elif ct == 20:  # GDAL drops the latitude: PROJ's Miller has none
        method = ("Miller_Cylindrical", [("longitude_of_center", clon), *false])
    elif ct == 17:
        parallel = [("standard_parallel_1", p(PROJ_STD_PARALLEL1)), ("central_meridian", clon)]
        if clat != 0.0:  # GDAL's extension of EPSG's method, which has no such latitude
            parallel = [("latitude_of_origin", clat), parallel[1], parallel[0]]
        method = ("Equirectangular", [*parallel, *false])
    elif ct in (23, 24):
        name = "Robinson" if ct == 23 else "Sinusoidal"
        method = (name, [("longitude_of_center", p(*_CENTER_LON)), *false])
    elif ct == 25:
        method = ("VanDerGrinten", [("central_meridian", p(*_CENTER_LON)), *false])
    elif ct == 15:
        plat = p(PROJ_NAT_ORIGIN_LAT, PROJ_STD_PARALLEL1, PROJ_FALSE_ORIGIN_LAT)
        plon = p(PROJ_STRAIGHT_VERT_POLE_LONG, *_LON)
        method = (
            "Polar_Stereographic",
            [
                ("latitude_of_origin", plat),
                ("central_meridian", plon),
                ("scale_factor", k0),
                *false,
            ],
        )
    elif ct == 8:
        olat = p(PROJ_FALSE_ORIGIN_LAT, PROJ_NAT_ORIGIN_LAT, PROJ_CENTER_LAT)
        olon = p(PROJ_FALSE_ORIGIN_LONG, PROJ_NAT_ORIGIN_LONG, PROJ_CENTER_LONG)
        ofe = p(PROJ_FALSE_ORIGIN_EASTING, PROJ_FALSE_EASTING, PROJ_CENTER_EASTING)
        ofn = p(PROJ_FALSE_ORIGIN_NORTHING, PROJ_FALSE_NORTHING, PROJ_CENTER_NORTHING)
        # GDAL's order: PROJ keeps it, and identifies an EPSG code only in that order.
        method = (
            "Lambert_Conformal_Conic_2SP",
            [
                ("latitude_of_origin", olat),
                ("central_meridian", olon),
                ("standard_parallel_1", p(PROJ_STD_PARALLEL1)),
                ("standard_parallel_2", p(PROJ_STD_PARALLEL2)),
                ("false_easting", ofe),
                ("false_northing", ofn),
            ],
        )
    elif ct == 9:
        method = ("Lambert_Conformal_Conic_1SP", [*origin, ("scale_factor", k0), *false])
    elif ct == 11:
        method = (
            "Albers_Conic_Equal_Area",
            [
                ("latitude_of_center", lat),
                ("longitude_of_center", lon),
                ("standard_parallel_1", p(PROJ_STD_PARALLEL1)),
                ("standard_parallel_2", p(PROJ_STD_PARALLEL2)),
                *false,
            ],
        )
    elif ct == 28:
        method = (
            "Cylindrical_Equal_Area",
            [("standard_parallel_1", p(PROJ_STD_PARALLEL1)), ("central_meridian", lon), *false],
        )
    if method is None:
        return None
    name, params = method
    body = ",".join(f"PARAMETER[{_q(k)},{_num(v)}]" for k, v in params)
    axes = _EAST_NORTH
    if ct == 27:
        axes = _WEST_SOUTH
    elif ct == 15:
        axes = _NORTH_POLE if params[0][1] > 0 else _SOUTH_POLE
    return f"PROJECTION[{_q(name)}],{body}", axes


def _projected_from_conversion(
    name: str, geog: str, projection: int, unit: tuple[str, float, int | None]
) -> str:
    """A projected CRS whose conversion is an EPSG code (ProjectionGeoKey), e.g. a UTM zone."""
    import pyproj

    try:
        conversion = pyproj.crs.CoordinateOperation.from_epsg(projection).to_json_dict()
        base = pyproj.CRS(geog).to_json_dict()
    except pyproj.exceptions.CRSError as exc:
        raise _Rejected(str(exc)) from exc
    conversion.pop("id", None)
    # A datum with TOWGS84 makes the base a BoundCRS; the projected CRS is then bound instead
    # (as PROJ reads GDAL's PROJCS with that datum).
    bound = base if base.get("type") == "BoundCRS" else None
    body: dict[str, Any] = {
        "type": "ProjectedCRS",
        "name": name,
        "base_crs": base["source_crs"] if bound else base,
        "conversion": conversion,
        "coordinate_system": _cartesian_cs(unit),
    }
    return _projjson({**bound, "source_crs": body} if bound else body)


def _cartesian_cs(unit: tuple[str, float, int | None]) -> dict[str, Any]:
    unit_json: dict[str, Any] | str
    if unit[1] == 1.0 and unit[0] == "metre":
        unit_json = "metre"
    else:
        unit_json = {"type": "LinearUnit", "name": unit[0], "conversion_factor": unit[1]}
        if unit[2] is not None:
            unit_json["id"] = {"authority": "EPSG", "code": unit[2]}
    return {
        "subtype": "Cartesian",
        "axis": [
            {"name": "Easting", "abbreviation": "E", "direction": "east", "unit": unit_json},
            {"name": "Northing", "abbreviation": "N", "direction": "north", "unit": unit_json},
        ],
    }


def _with_linear_unit(pcs: int, unit: tuple[str, float, int | None]) -> str:
    """EPSG:pcs with the file's linear unit instead of its own (a different CRS)."""
    import pyproj

    body = pyproj.CRS.from_epsg(pcs).to_json_dict()
    body.pop("id", None)
    body["coordinate_system"] = _cartesian_cs(unit)
    return _projjson(body)


# --------------------------------------------------------------------------- units


def _linear_unit(
    keys: GeoKeys, default: tuple[str, float, int | None] = ("metre", 1.0, 9001)
) -> tuple[str, float, int | None]:
    code = _key_int(keys, PROJ_LINEAR_UNITS)
    if _coded(code):
        assert code is not None
        unit = KNOWN_UNITS.get(code) or _units().get(code)
        if unit is not None and unit[2] == "linear":
            return unit[0], unit[1], code
    size = _key_float(keys, PROJ_LINEAR_UNIT_SIZE)
    if code == USER_DEFINED and size:
        return "unknown", size, None
    return default


def _angular_unit(
    keys: GeoKeys, default: tuple[str, float, int | None]
) -> tuple[str, float, int | None]:
    code = _key_int(keys, GEOG_ANGULAR_UNITS)
    if _coded(code):
        assert code is not None
        unit = KNOWN_UNITS.get(code) or _units().get(code)
        if unit is not None and unit[2] == "angular" and unit[1] > 0:
            return unit[0], unit[1], code
    size = _key_float(keys, GEOG_ANGULAR_UNIT_SIZE)
    if code == USER_DEFINED and size:
        return "unknown", size, None
    return default


def _unit_wkt(unit: tuple[str, float, int | None]) -> str:
    auth = f',AUTHORITY["EPSG","{unit[2]}"]' if unit[2] is not None else ""
    return f"UNIT[{_q(unit[0])},{_num(unit[1])}{auth}]"


# ---------------------------------------------------------------- PROJ lookups (cached)


@functools.cache
def _units() -> dict[int, tuple[str, float, str]]:
    from pyproj.database import get_units_map

    out: dict[int, tuple[str, float, str]] = {}
    for unit in get_units_map(auth_name="EPSG").values():
        if unit.code.isdigit():
            out[int(unit.code)] = (unit.name, unit.conv_factor, unit.category)
    return out


# Units, and axis units of the commonest EPSG codes in Earth observation (WGS 84 / UTM
# zones, Web Mercator, WGS 84), as PROJ reports them: parsing those headers then needs no
# PROJ lookup, whose import is a sizeable part of a cold build. A test checks them.
KNOWN_UNITS: dict[int, tuple[str, float, str]] = {
    9001: ("metre", 1.0, "linear"),
    9102: ("degree", 0.017453292519943278, "angular"),
}
_METRE = ("metre", 1.0, 9001)
KNOWN_LINEAR_UNITS: dict[int, tuple[str, float, int | None]] = {
    3857: _METRE,
    **{code: _METRE for code in (*range(32601, 32661), *range(32701, 32761))},
}
KNOWN_ANGULAR_UNITS: dict[int, tuple[str, float, int | None]] = {
    4326: ("degree", 0.017453292519943295, 9122)
}


def _epsg_linear_unit(code: int) -> tuple[str, float, int | None] | None:
    return KNOWN_LINEAR_UNITS.get(code) or _epsg_axis_unit(code, projected=True)


def _epsg_angular_unit(code: int) -> tuple[str, float, int | None] | None:
    return KNOWN_ANGULAR_UNITS.get(code) or _epsg_axis_unit(code, projected=False)


@functools.cache
def _epsg_axis_unit(code: int, *, projected: bool) -> tuple[str, float, int | None] | None:
    """The first axis' unit of EPSG:code as PROJ has it, if the code is a projected
    (`projected`) or geographic CRS PROJ knows; else None."""
    import pyproj

    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        return None
    if not (crs.is_projected if projected else crs.is_geographic) or not crs.axis_info:
        return None
    axis = crs.axis_info[0]
    unit_code = int(axis.unit_code) if axis.unit_code and axis.unit_code.isdigit() else None
    return axis.unit_name, axis.unit_conversion_factor, unit_code


@functools.cache
def _gcs_definition(code: int) -> dict[str, Any] | None:
    import pyproj

    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        return None
    if not crs.is_geographic or not crs.axis_info:
        return None
    datum = crs.datum.to_json_dict() if crs.datum is not None else {}
    datum_code = (datum.get("id") or {}).get("code")
    axis = crs.axis_info[0]
    unit_code = int(axis.unit_code) if axis.unit_code and axis.unit_code.isdigit() else None
    return {
        "name": crs.name,
        "datum_code": datum_code if isinstance(datum_code, int) else None,
        "angle": (axis.unit_name, axis.unit_conversion_factor, unit_code),
    }


# libgeotiff names these datums itself rather than asking the EPSG database.
_DATUM_NAMES = {
    6267: "North_American_Datum_1927",
    6269: "North_American_Datum_1983",
    6322: "WGS_1972",
    6326: "WGS_1984",
}


@functools.cache
def _datum_definition(code: int) -> dict[str, Any] | None:
    import pyproj

    try:
        datum = pyproj.crs.Datum.from_epsg(code).to_json_dict()
    except pyproj.exceptions.CRSError:
        return None
    ellipsoid = _ellipsoid_from_json(datum.get("ellipsoid") or {})
    name = _DATUM_NAMES.get(code) or str(datum.get("name", "unknown"))
    return {"name": name.removesuffix(" ensemble"), "ellipsoid": ellipsoid}


@functools.cache
def _ellipsoid_definition(code: int) -> dict[str, Any] | None:
    import pyproj

    try:
        return _ellipsoid_from_json(pyproj.crs.Ellipsoid.from_epsg(code).to_json_dict())
    except pyproj.exceptions.CRSError:
        return None


def _ellipsoid_from_json(body: dict[str, Any]) -> dict[str, Any] | None:
    """(name, a, b, 1/f) of a PROJJSON ellipsoid in metres (None if it has no size)."""
    a = _metres(body.get("semi_major_axis", body.get("radius")))
    if a is None:
        return None
    rf = body.get("inverse_flattening")
    b = _metres(body.get("semi_minor_axis"))
    if rf:
        b = a - a / float(rf)
    elif b is None or b == a:
        b, rf = a, 0.0
    else:
        rf = a / (a - b)
    return {"name": body.get("name", "unnamed"), "a": a, "b": b, "rf": float(rf)}


def _metres(value: Any) -> float | None:
    if isinstance(value, dict):  # {"value": v, "unit": {...}} for non-metre axes
        unit = value.get("unit")
        factor = unit.get("conversion_factor", 1.0) if isinstance(unit, dict) else 1.0
        return float(value["value"]) * float(factor)
    return None if value is None else float(value)


@functools.cache
def _prime_meridian_definition(code: int) -> dict[str, Any] | None:
    import pyproj

    try:
        pm = pyproj.crs.PrimeMeridian.from_epsg(code)
    except pyproj.exceptions.CRSError:
        return None
    # pyproj's stub says str; the attribute is the float factor to radians.
    factor = pm.unit_conversion_factor / (math.pi / 180)  # type: ignore[operator]
    return {"name": pm.name, "longitude": pm.longitude * factor}


# --------------------------------------------------------------------------- output


def _projjson(definition: str | dict[str, Any]) -> str:
    """Let PROJ parse what we built; its PROJJSON is what the header stores."""
    import pyproj

    try:
        crs = (
            pyproj.CRS.from_json_dict(definition)
            if isinstance(definition, dict)
            else pyproj.CRS.from_wkt(definition)
        )
        text = crs.to_json()
    except pyproj.exceptions.CRSError as exc:
        raise _Rejected(str(exc)) from exc
    if not text:  # PROJ gives no JSON for objects it cannot express
        raise _Rejected("PROJ cannot express this CRS")
    return text


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _num(value: float) -> str:
    return repr(float(value))


__all__ = [
    "GEOGRAPHIC_TYPE",
    "GT_MODEL_TYPE",
    "GT_RASTER_TYPE",
    "KNOWN_ANGULAR_UNITS",
    "KNOWN_LINEAR_UNITS",
    "KNOWN_UNITS",
    "MODEL_GEOGRAPHIC",
    "MODEL_PROJECTED",
    "PROJECTED_CS_TYPE",
    "RASTER_PIXEL_IS_POINT",
    "GeoKeys",
    "crs",
    "epsg_code",
    "geotransform",
    "parse_directory",
]
