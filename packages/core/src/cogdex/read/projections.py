"""Coordinate transforms for the CRSs most COG collections use, computed without PROJ.

WGS 84 lon/lat (EPSG:4326), the UTM zones on WGS 84 (EPSG:32601-32660 north, 32701-32760
south) and Web Mercator (EPSG:3857) cover Sentinel-2, Landsat and most tiled imagery.
Importing pyproj costs about 0.1 s, a tenth of a cold read of such a collection, so while
pyproj is not loaded `grid.transformer` takes these pairs from `builtin` (any other CRS, and
every pair once pyproj is loaded, goes to PROJ, whose calls cost less). The transverse
Mercator is Krüger's series to sixth order in the third flattening (Karney, J. Geodesy 85,
2011), the method of PROJ's default `tmerc`; tests hold every transform to PROJ's within
1e-8 m around each zone (1e-4 m anywhere PROJ gives a result) and give out-of-domain points
the same treatment (infinity, as PROJ reports them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

_A = 6378137.0  # WGS 84 semi-major axis (m)
_F = 1 / 298.257223563
_E = math.sqrt(_F * (2 - _F))  # first eccentricity
_N = _F / (2 - _F)  # third flattening
_UTM_SCALE = 0.9996
_UTM_EASTING = 500000.0
_UTM_SOUTH_NORTHING = 10000000.0
_LIMIT = 2.623395162778  # PROJ's bound on the normalised easting (past it: no result)
_BLOCK = 16384  # points per block of a large transform


def _series(coefficients: list[list[float]]) -> np.ndarray:
    """Polynomials in n (lowest power first, starting at n^1) evaluated for WGS 84."""
    return np.array([sum(c * _N ** (k + 1) for k, c in enumerate(row)) for row in coefficients])


# Karney (2011), eqs. (35) and (36): the rectifying radius and the coefficients that take
# conformal coordinates to transverse Mercator ones (alpha) and back (beta).
_RECTIFYING = _A / (1 + _N) * (1 + _N**2 / 4 + _N**4 / 64 + _N**6 / 256)
_ALPHA = _series(
    [
        [1 / 2, -2 / 3, 5 / 16, 41 / 180, -127 / 288, 7891 / 37800],
        [0, 13 / 48, -3 / 5, 557 / 1440, 281 / 630, -1983433 / 1935360],
        [0, 0, 61 / 240, -103 / 140, 15061 / 26880, 167603 / 181440],
        [0, 0, 0, 49561 / 161280, -179 / 168, 6601661 / 7257600],
        [0, 0, 0, 0, 34729 / 80640, -3418889 / 1995840],
        [0, 0, 0, 0, 0, 212378941 / 319334400],
    ]
)
_BETA = _series(
    [
        [1 / 2, -2 / 3, 37 / 96, -1 / 360, -81 / 512, 96199 / 604800],
        [0, 1 / 48, 1 / 15, -437 / 1440, 46 / 105, -1118711 / 3870720],
        [0, 0, 17 / 480, -37 / 840, -209 / 4480, 5569 / 90720],
        [0, 0, 0, 4397 / 161280, -11 / 504, -830251 / 7257600],
        [0, 0, 0, 0, 4583 / 161280, -108847 / 3991680],
        [0, 0, 0, 0, 0, 20648693 / 638668800],
    ]
)

Coords = tuple[np.ndarray, np.ndarray]
Step = Callable[[np.ndarray, np.ndarray], Coords]


def _sine_series(z: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """sum_j c_j sin(2j z) for complex z, by Clenshaw's recurrence: one complex sine and
    cosine, then three array operations per coefficient (small arrays pay per operation)."""
    two_cos = 2 * np.cos(2 * z)
    later, last = coefficients[-1], 0.0
    for c in coefficients[-2::-1]:
        later, last = c + two_cos * later - last, later
    return np.sin(2 * z) * later


def _conformal_tan(tau: np.ndarray) -> np.ndarray:
    """tan of the conformal latitude, given tan of the geodetic latitude."""
    sigma = np.sinh(_E * np.arctanh(_E * tau / np.hypot(1, tau)))
    return tau * np.hypot(1, sigma) - sigma * np.hypot(1, tau)


def _geodetic_tan(taup: np.ndarray) -> np.ndarray:
    """The inverse of `_conformal_tan`, by Newton's method (Karney 2011, eqs. 19-21),
    started at taup / (1 - e^2), until a step changes nothing at machine precision."""
    e2m = 1 - _E**2
    tau = taup / e2m
    for _ in range(4):
        taui = _conformal_tan(tau)
        step = (taup - taui) / np.hypot(1, taui) * (1 + e2m * tau**2) / (e2m * np.hypot(1, tau))
        tau = tau + step
        if not np.any(np.abs(step) > 1e-14 * np.maximum(1, np.abs(tau))):
            break
    return tau


# UTM coordinates are computed through conformal coordinates (tan of the conformal
# latitude, absolute longitude in radians): between two zones the geodetic latitude is
# never needed, which saves the Newton iterations and keeps the last bits.
Conformal = tuple[np.ndarray, np.ndarray]


def _failed(where: np.ndarray, a: np.ndarray, b: np.ndarray) -> Coords:
    """`a` and `b` with infinity where the points failed (PROJ's answer outside a domain)."""
    if where.any():
        return np.where(where, np.inf, a), np.where(where, np.inf, b)
    return a, b


def _zone(zone: int, south: bool) -> tuple[float, float, float]:
    """(central meridian in radians, false northing, k0 x rectifying radius) of a zone."""
    return (
        math.radians(6 * zone - 183),
        _UTM_SOUTH_NORTHING if south else 0.0,
        _UTM_SCALE * _RECTIFYING,
    )


def _utm_to_conformal(zone: int, south: bool) -> Callable[[np.ndarray, np.ndarray], Conformal]:
    lon0, northing, scale = _zone(zone, south)

    def to_conformal(x: np.ndarray, y: np.ndarray) -> Conformal:
        zeta = (y - northing) / scale + 1j * ((x - _UTM_EASTING) / scale)
        bad = ~(np.abs(zeta.imag) <= _LIMIT) | ~np.isfinite(zeta.real)
        if bad.any():
            zeta = np.where(bad, 0, zeta)
        zeta = zeta - _sine_series(zeta, _BETA)
        sinh_eta, cos_xi = np.sinh(zeta.imag), np.cos(zeta.real)
        taup = np.sin(zeta.real) / np.hypot(sinh_eta, cos_xi)
        lam = np.arctan2(sinh_eta, cos_xi) + lon0
        return _failed(bad, taup, lam)

    return to_conformal


def _conformal_to_utm(zone: int, south: bool) -> Step:
    lon0, northing, scale = _zone(zone, south)

    def from_conformal(taup: np.ndarray, lam: np.ndarray) -> Coords:
        lam = (lam - lon0 + np.pi) % (2 * np.pi) - np.pi  # PROJ wraps about the meridian
        cos_lam = np.cos(lam)
        zeta = np.arctan2(taup, cos_lam) + 1j * np.arcsinh(np.sin(lam) / np.hypot(taup, cos_lam))
        zeta = zeta + _sine_series(zeta, _ALPHA)
        x, y = scale * zeta.imag + _UTM_EASTING, scale * zeta.real + northing
        return _failed(~(np.abs(zeta.imag) <= _LIMIT), x, y)

    return from_conformal


def _utm_forward(zone: int, south: bool) -> Step:
    to_utm = _conformal_to_utm(zone, south)

    def forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
        outside = ~(np.abs(lat) <= 90)
        taup = _conformal_tan(np.tan(np.radians(np.where(outside, 0, lat))))
        return _failed(outside, *to_utm(taup, np.radians(lon)))

    return forward


def _utm_inverse(zone: int, south: bool) -> Step:
    to_conformal = _utm_to_conformal(zone, south)

    def inverse(x: np.ndarray, y: np.ndarray) -> Coords:
        taup, lam = to_conformal(x, y)
        lat = np.degrees(np.arctan(_geodetic_tan(taup)))
        lon = (np.degrees(lam) + 180) % 360 - 180
        return lon, lat

    return inverse


def _utm_to_utm(source: int, target: int) -> Step:
    to_conformal = _utm_to_conformal(source % 100, source > 32700)
    to_utm = _conformal_to_utm(target % 100, target > 32700)

    def between(x: np.ndarray, y: np.ndarray) -> Coords:
        return to_utm(*to_conformal(x, y))

    return between


def _mercator_forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
    """Web Mercator: the sphere of radius a, fed geodetic lon/lat."""
    ok = np.abs(lat) <= 90
    y = _A * np.arcsinh(np.tan(np.radians(np.where(ok, lat, 0))))
    return np.where(ok, _A * np.radians(lon), np.inf), np.where(ok, y, np.inf)


def _mercator_inverse(x: np.ndarray, y: np.ndarray) -> Coords:
    lon = (np.degrees(x / _A) + 180) % 360 - 180
    return lon, np.degrees(np.arctan(np.sinh(y / _A)))


def _identity(x: np.ndarray, y: np.ndarray) -> Coords:
    return x, y


def _is_utm(code: int) -> bool:
    return 32601 <= code <= 32660 or 32701 <= code <= 32760


def _through_lonlat(code: int) -> tuple[Step, Step]:
    """(to lon/lat, from lon/lat) for a built-in code (see `known`)."""
    if code == 4326:
        return _identity, _identity
    if code == 3857:
        return _mercator_inverse, _mercator_forward
    zone, south = code % 100, code > 32700
    return _utm_inverse(zone, south), _utm_forward(zone, south)


def known(crs: int | str) -> bool:
    """Whether `crs` (a normalised grid CRS value) is one this module transforms."""
    return isinstance(crs, int) and (crs in (4326, 3857) or _is_utm(crs))


class Transform:
    """pyproj's `Transformer.transform` for two built-in CRSs, (x, y) = (lon, lat) order;
    scalars in give floats out, arrays give arrays, points out of the projection's domain
    give infinity and NaN gives NaN."""

    def __init__(self, src: int, dst: int) -> None:
        self._steps: list[Step] = []
        if src != dst and _is_utm(src) and _is_utm(dst):
            self._steps = [_utm_to_utm(src, dst)]
        elif src != dst:
            steps = (_through_lonlat(src)[0], _through_lonlat(dst)[1])
            self._steps = [s for s in steps if s is not _identity]

    def transform(self, x: ArrayLike, y: ArrayLike) -> tuple[Any, Any]:
        scalar = np.ndim(x) == 0 and np.ndim(y) == 0
        xs, ys = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
        if not self._steps:
            out_x, out_y = xs.copy(), ys.copy()
        else:  # in blocks whose temporaries stay in cache (a third faster for 1M points)
            out_x, out_y = np.empty(xs.shape), np.empty(ys.shape)
            flat = (xs.reshape(-1), ys.reshape(-1), out_x.reshape(-1), out_y.reshape(-1))
            for start in range(0, xs.size, _BLOCK):
                block = slice(start, start + _BLOCK)
                bx, by = flat[0][block], flat[1][block]
                flat[2][block], flat[3][block] = self._apply(bx, by)
        if scalar:
            return float(out_x), float(out_y)
        return out_x, out_y

    def _apply(self, x: np.ndarray, y: np.ndarray) -> Coords:
        missing = np.isnan(x) | np.isnan(y)
        with np.errstate(invalid="ignore", over="ignore"):
            for step in self._steps:
                x, y = step(x, y)
        failed = ~(np.isfinite(x) & np.isfinite(y))
        if failed.any():  # as PROJ: NaN in gives NaN out, any other failure infinity
            fill = np.where(missing, np.nan, np.inf)
            x, y = np.where(failed, fill, x), np.where(failed, fill, y)
        return x, y


@lru_cache(maxsize=256)
def builtin(src: int | str, dst: int | str) -> Transform | None:
    """The built-in transform from `src` to `dst`, or None when either needs PROJ."""
    if known(src) and known(dst):
        assert isinstance(src, int) and isinstance(dst, int)
        return Transform(src, dst)
    return None
