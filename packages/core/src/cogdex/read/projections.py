"""Coordinate transforms for the CRSs most COG collections use, computed without PROJ.

WGS 84 lon/lat (EPSG:4326), the UTM zones on WGS 84 (EPSG:32601-32660 north, 32701-32760
south) and Web Mercator (EPSG:3857) cover Sentinel-2, Landsat and most tiled imagery.
Importing pyproj costs about 0.1 s, a tenth of a cold read of such a collection, so
`builtin` answers these pairs itself and `grid.transformer` falls back to pyproj for any
other CRS. The transverse Mercator is Krüger's series to sixth order in the third
flattening (Karney, J. Geodesy 85, 2011), the method PROJ's default `tmerc` uses; tests hold
every transform to PROJ's within a micrometre and give out-of-domain points the same
treatment (infinity, as PROJ reports them).
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


def _sine_series(z: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """sum_j c_j sin(2 j z) for complex z, by the recurrence sin((k+1)w) = 2 cos(w) sin(kw)
    - sin((k-1)w): two complex trigonometric calls whatever the order."""
    w = 2 * z
    two_cos = 2 * np.cos(w)
    previous, current = np.zeros_like(w), np.sin(w)
    total = coefficients[0] * current
    for c in coefficients[1:]:
        previous, current = current, two_cos * current - previous
        total += c * current
    return total


def _conformal_tan(tau: np.ndarray) -> np.ndarray:
    """tan of the conformal latitude, given tan of the geodetic latitude."""
    sigma = np.sinh(_E * np.arctanh(_E * tau / np.hypot(1, tau)))
    return tau * np.hypot(1, sigma) - sigma * np.hypot(1, tau)


def _geodetic_tan(taup: np.ndarray) -> np.ndarray:
    """The inverse of `_conformal_tan`, by Newton's method (Karney 2011, eqs. 19-21)."""
    tau = taup.copy()
    e2m = 1 - _E**2
    for _ in range(5):  # quadratic convergence: machine precision after 2-3 steps
        taui = _conformal_tan(tau)
        step = (taup - taui) / np.hypot(1, taui) * (1 + e2m * tau**2) / (e2m * np.hypot(1, tau))
        tau = tau + step
        if not np.any(np.abs(step) > 1e-14 * np.maximum(1, np.abs(tau))):
            break
    return tau


def _utm_forward(zone: int, south: bool) -> Callable[[np.ndarray, np.ndarray], Coords]:
    lon0 = math.radians(6 * zone - 183)
    northing = _UTM_SOUTH_NORTHING if south else 0.0
    scale = _UTM_SCALE * _RECTIFYING

    def forward(lon: np.ndarray, lat: np.ndarray) -> Coords:
        lam = np.radians(lon) - lon0
        lam = (lam + np.pi) % (2 * np.pi) - np.pi  # PROJ wraps longitudes about the meridian
        phi = np.radians(lat)
        taup = _conformal_tan(np.tan(phi))
        xip = np.arctan2(taup, np.cos(lam))
        etap = np.arcsinh(np.sin(lam) / np.hypot(taup, np.cos(lam)))
        zeta = xip + 1j * etap
        zeta = zeta + _sine_series(zeta, _ALPHA)
        bad = ~(np.abs(phi) <= np.pi / 2) | ~(np.abs(zeta.imag) <= _LIMIT)
        x = np.where(bad, np.inf, scale * zeta.imag + _UTM_EASTING)
        y = np.where(bad, np.inf, scale * zeta.real + northing)
        return x, y

    return forward


def _utm_inverse(zone: int, south: bool) -> Callable[[np.ndarray, np.ndarray], Coords]:
    lon0 = 6 * zone - 183
    northing = _UTM_SOUTH_NORTHING if south else 0.0
    scale = _UTM_SCALE * _RECTIFYING

    def inverse(x: np.ndarray, y: np.ndarray) -> Coords:
        zeta = (y - northing) / scale + 1j * (x - _UTM_EASTING) / scale
        bad = ~(np.abs(zeta.imag) <= _LIMIT) | ~np.isfinite(zeta.real)
        zeta = np.where(bad, 0, zeta)
        zetap = zeta - _sine_series(zeta, _BETA)
        xip, etap = zetap.real, zetap.imag
        taup = np.sin(xip) / np.hypot(np.sinh(etap), np.cos(xip))
        lam = np.arctan2(np.sinh(etap), np.cos(xip))
        lat = np.degrees(np.arctan(_geodetic_tan(taup)))
        lon = (np.degrees(lam) + lon0 + 180) % 360 - 180
        return np.where(bad, np.inf, lon), np.where(bad, np.inf, lat)

    return inverse


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


def _to_lonlat(code: int) -> Callable[[np.ndarray, np.ndarray], Coords] | None:
    if code == 4326:
        return _identity
    if code == 3857:
        return _mercator_inverse
    if 32601 <= code <= 32660 or 32701 <= code <= 32760:
        return _utm_inverse(code % 100, code > 32700)
    return None


def _from_lonlat(code: int) -> Callable[[np.ndarray, np.ndarray], Coords] | None:
    if code == 4326:
        return _identity
    if code == 3857:
        return _mercator_forward
    if 32601 <= code <= 32660 or 32701 <= code <= 32760:
        return _utm_forward(code % 100, code > 32700)
    return None


def known(crs: int | str) -> bool:
    """Whether `crs` (a normalised grid CRS value) is one this module transforms."""
    return isinstance(crs, int) and _to_lonlat(crs) is not None


class Transform:
    """pyproj's `Transformer.transform` for two built-in CRSs, (x, y) = (lon, lat) order;
    scalars in give floats out, arrays give arrays, points out of the projection's domain
    give infinity and NaN gives NaN."""

    def __init__(self, src: int, dst: int) -> None:
        self._steps: list[Callable[[np.ndarray, np.ndarray], Coords]] = []
        if src != dst:
            inverse, forward = _to_lonlat(src), _from_lonlat(dst)
            assert inverse is not None and forward is not None
            self._steps = [s for s in (inverse, forward) if s is not _identity]

    def transform(self, x: ArrayLike, y: ArrayLike) -> tuple[Any, Any]:
        scalar = np.ndim(x) == 0 and np.ndim(y) == 0
        xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if self._steps:
            missing = np.isnan(xs) | np.isnan(ys)
            with np.errstate(invalid="ignore", over="ignore"):
                for step in self._steps:
                    xs, ys = step(xs, ys)
            failed = ~(np.isfinite(xs) & np.isfinite(ys))
            if failed.any():  # as PROJ: NaN in gives NaN out, any other failure infinity
                fill = np.where(missing, np.nan, np.inf)
                xs, ys = np.where(failed, fill, xs), np.where(failed, fill, ys)
        if scalar:
            return float(xs), float(ys)
        return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


@lru_cache(maxsize=256)
def builtin(src: int | str, dst: int | str) -> Transform | None:
    """The built-in transform from `src` to `dst`, or None when either needs PROJ."""
    if known(src) and known(dst):
        assert isinstance(src, int) and isinstance(dst, int)
        return Transform(src, dst)
    return None
