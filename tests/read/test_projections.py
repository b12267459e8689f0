"""The built-in WGS 84 / UTM / Web Mercator transforms against PROJ (pyproj) itself."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyproj
import pytest

from cogdex.read import grid as G
from cogdex.read import projections as P

RNG = np.random.default_rng(7)
N = 50_000


def _proj(src: int, dst: int, x, y):
    return pyproj.Transformer.from_crs(src, dst, always_xy=True).transform(x, y)


def _compare(src: int, dst: int, x: np.ndarray, y: np.ndarray) -> float:
    """Largest coordinate difference; both must fail (non-finite) on the same points."""
    px, py = (np.asarray(v) for v in _proj(src, dst, x, y))
    mx, my = P.builtin(src, dst).transform(x, y)
    theirs = np.isfinite(px) & np.isfinite(py)
    mine = np.isfinite(mx) & np.isfinite(my)
    assert np.array_equal(theirs, mine)
    assert theirs.sum() > 0.9 * len(x)
    t = theirs
    return float(np.maximum(np.abs(px[t] - mx[t]), np.abs(py[t] - my[t])).max())


@pytest.mark.parametrize("code", [32601, 32631, 32643, 32660, 32701, 32743, 32760])
def test_utm_forward_and_inverse_agree_with_proj_to_nanometres(code: int) -> None:
    meridian = 6 * (code % 100) - 183
    lon = RNG.uniform(meridian - 9, meridian + 9, N)  # the zone and its neighbours
    lat = RNG.uniform(-80, 84, N)
    assert _compare(4326, code, lon, lat) < 1e-8  # metres
    x, y = _proj(4326, code, lon, lat)
    assert _compare(code, 4326, np.asarray(x), np.asarray(y)) < 1e-12  # degrees


def test_far_from_the_zone_proj_and_builtin_fail_on_the_same_points() -> None:
    lon, lat = RNG.uniform(-180, 180, N), RNG.uniform(-90, 90, N)
    assert _compare(4326, 32643, lon, lat) < 1e-4  # tens of micrometres at the far side
    x, y = RNG.uniform(-3e6, 4e6, N), RNG.uniform(-1.2e7, 1.2e7, N)
    assert _compare(32643, 4326, x, y) < 1e-10


@pytest.mark.parametrize(("src", "dst"), [(32643, 32644), (32743, 32644), (3857, 32643)])
def test_between_projected_crss_through_lon_lat(src: int, dst: int) -> None:
    lon, lat = RNG.uniform(72, 84, N), RNG.uniform(-60, 60, N)
    x, y = (np.asarray(v) for v in _proj(4326, src, lon, lat))
    assert _compare(src, dst, x, y) < 1e-8


def test_web_mercator_both_ways() -> None:
    lon, lat = RNG.uniform(-180, 180, N), RNG.uniform(-89.9, 89.9, N)
    assert _compare(4326, 3857, lon, lat) < 1e-6
    x, y = RNG.uniform(-4e7, 4e7, N), RNG.uniform(-3e7, 3e7, N)  # past 180 degrees: wrapped
    assert _compare(3857, 4326, x, y) < 1e-10


@pytest.mark.parametrize(
    "point", [(78.0, 90.0), (78.0, -90.0), (180.0, 0.0), (-180.0, 0.0), (78.0, 90.000001),
              (np.nan, 0.0), (0.0, np.nan), (np.inf, 0.0), (165.0, 0.0), (168.0, 10.0)],
)  # fmt: skip
@pytest.mark.parametrize("dst", [32643, 32743, 3857])
def test_edge_points_and_scalars_as_proj(point: tuple[float, float], dst: int) -> None:
    theirs = _proj(4326, dst, *point)
    mine = P.builtin(4326, dst).transform(*point)
    assert all(isinstance(v, float) for v in mine)
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)  # inf and NaN where PROJ has


def test_grid_uses_builtin_transforms_for_known_codes_while_pyproj_is_not_loaded(monkeypatch):
    # this test process has pyproj loaded: PROJ everywhere (its calls cost ~5 us, not ~0.1 ms)
    assert isinstance(G.transformer(4326, 32643), pyproj.Transformer)
    monkeypatch.setattr(G, "_proj_loaded", lambda: False)  # as in a cold process
    assert isinstance(G.transformer(4326, 32643), P.Transform)
    assert isinstance(G.transformer(32643, 3857), P.Transform)
    assert isinstance(G.transformer(4326, 3035), pyproj.Transformer)  # LAEA Europe: PROJ
    wkt = pyproj.CRS.from_epsg(32643).to_wkt()  # a string, not a code: PROJ's to read
    assert isinstance(G.transformer(wkt, 4326), pyproj.Transformer)
    assert P.builtin(4326, 32661) is None  # UPS north is not UTM
    assert not G.same_crs(32643, 32644) and G.same_crs(32643, 32643)
    assert G.same_crs(4326, "OGC:CRS84")  # axis order aside: still PROJ's question


def test_a_cold_read_of_a_utm_collection_never_loads_pyproj() -> None:
    """What the dispatch is for; tests/pixels/test_cold_imports.py runs whole reads so."""
    code = (
        "import sys, numpy as np\n"
        "from cogdex.read.grid import Grid, source_coords\n"
        "src = Grid(32643, (10.0, 0.0, 700000.0, 0.0, -10.0, 3100000.0), (64, 64))\n"
        "dst = Grid(32644, (10.0, 0.0, 110000.0, 0.0, -10.0, 3105000.0), (64, 64))\n"
        "x, y = source_coords(src, dst)\n"
        "assert np.isfinite(x).all() and 'pyproj' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
