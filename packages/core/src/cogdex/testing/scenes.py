"""Synthetic Sentinel-2-like scenes: COGs in two UTM zones and a STAC ItemCollection that
points at them (what `cogdex demo` reads, and test data for code that reads COGs).

Two 10 m tiles, one in UTM 43N (EPSG:32643) and one in 44N (EPSG:32644), overlap around
78E, 20N on the zone boundary; each date has one scene per tile, every ten days from the
start of the monsoon. Pixels render one landscape, and one sky per date, as functions of
position on the ground, so both tiles show the same fields and clouds where they overlap
(as real overlapping tiles do) and a mosaic across the zones has no seams. Vegetation
greens up from date to date, so the NDVI series has a trend. Written with
`cogdex.testing.cog.write_cog`: no GDAL. The geometry (`tile_transform`, `footprint`) is
public so that other scene sets over the same tiles agree with these.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pyproj import Transformer

from cogdex.testing.cog import write_cog

AOI_LONLAT = (78.0, 20.0)
RES = 10.0
START = dt.datetime(2024, 6, 5, 5, 28, 31, tzinfo=dt.UTC)
STEP_DAYS = 10
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
# (band, common name, centre wavelength in um) of the bands `write_scenes` renders
BANDS = (
    ("B02", "blue", 0.490),
    ("B03", "green", 0.560),
    ("B04", "red", 0.665),
    ("B08", "nir", 0.842),
)
# (EPSG, MGRS tile, fractional position (col, row) of the AOI point inside the tile)
TILES = ((32643, "43QHV", 0.70, 0.50), (32644, "44QKE", 0.30, 0.50))
# Cloud cover aimed at on successive dates (percent); the items carry what was rendered.
CLOUDS = (8.0, 30.0, 75.0, 12.0, 45.0, 5.0, 90.0, 20.0)
_FRAME = 32643  # the metric frame the ground and sky are defined in
Transform = tuple[float, float, float, float, float, float]
"""A north-up affine grid (a, b, c, d, e, f) in rasterio's and GDAL's order."""


class CogWriter(Protocol):
    """What writes each COG of `write_scenes`: `write_cog` by default; a test suite that
    wants GDAL-written files passes its own. `array` is (bands, rows, cols) uint16."""

    def __call__(
        self, path: Path, array: np.ndarray, crs: int, transform: Transform, nodata: float, /,
        *, tile_size: int,
    ) -> object: ...  # fmt: skip


@dataclass(frozen=True)
class Scene:
    """One acquisition of one tile: a COG per band (and a multi-band "stack" when asked
    for), all on one grid."""

    id: str
    datetime: dt.datetime
    epsg: int
    mgrs: str
    transform: Transform
    """(a, b, c, d, e, f): x = a * col + c, y = e * row + f."""
    size: int
    cloud_cover: float
    nodata_corner: bool
    """The upper-left corner is nodata (0), like a swath edge."""
    nodata_pct: float
    """Percentage of the pixels that are nodata."""
    files: dict[str, Path]
    """Band name (or "stack") -> COG path."""

    @property
    def platform(self) -> str:
        """The satellite, "sentinel-2a" or "sentinel-2b", as the id says (they alternate by
        date)."""
        return f"sentinel-2{self.id[2].lower()}"


@dataclass(frozen=True)
class _Tile:
    epsg: int
    mgrs: str
    transform: Transform
    size: int
    x: np.ndarray
    """Shared-frame coordinates of a lattice every _STEP pixels (pixel corners 0, _STEP, ...):
    fields are computed there and interpolated to pixels, a quarter of the work."""
    y: np.ndarray


_STEP = 2


def tile_transform(epsg: int, fx: float, fy: float, size: int) -> Transform:
    """The grid (a, b, c, d, e, f) of a `size` x `size` tile at RES m in `epsg` whose
    fractional position (`fx`, `fy`) (column, row) is the AOI point; corners on whole metres
    of RES, as in TILES."""
    x0, y0 = Transformer.from_crs(4326, epsg, always_xy=True).transform(*AOI_LONLAT)
    extent = size * RES
    ulx = round((x0 - fx * extent) / RES) * RES
    uly = round((y0 + fy * extent) / RES) * RES
    return (RES, 0.0, ulx, 0.0, -RES, uly)


def _tile(epsg: int, mgrs: str, fx: float, fy: float, size: int) -> _Tile:
    transform = tile_transform(epsg, fx, fy, size)
    _, _, ulx, _, _, uly = transform
    # The UTM -> frame warp is smooth: project every 16th pixel corner, interpolate the rest.
    coarse = np.arange(0, size + 16, 16, dtype=np.float64)
    cols, rows = np.meshgrid(ulx + coarse * RES, uly - coarse * RES)
    x, y = Transformer.from_crs(epsg, _FRAME, always_xy=True).transform(cols, rows)
    at = np.arange(0, size + _STEP, _STEP) / 16
    return _Tile(epsg, mgrs, transform, size, _lerp2(x, at), _lerp2(y, at))


def _lerp2(lattice: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a square lattice at fractional positions `at` on both axes."""
    i = np.minimum(at.astype(np.int64), lattice.shape[0] - 2)
    t = (at - i)[:, None].astype(lattice.dtype)
    rows = lattice[i] * (1 - t) + lattice[i + 1] * t
    out: np.ndarray = rows[:, i] * (1 - t.T) + rows[:, i + 1] * t.T
    return out


def _pixels(tile: _Tile, field: np.ndarray) -> np.ndarray:
    """A field on the tile's lattice at its pixel centres (float32)."""
    return _lerp2(field.astype(np.float32), (np.arange(tile.size) + 0.5) / _STEP)


def _lattice(seed: int, i0: int, j0: int, n: int) -> np.ndarray:
    """Pseudo-random values in [-1, 1) on lattice cells (i0..i0+n, j0..j0+n), a hash of the
    absolute cell numbers: any tile that needs a cell draws the same value."""
    j, i = np.meshgrid(np.arange(j0, j0 + n + 1), np.arange(i0, i0 + n + 1), indexing="ij")
    h = i.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= j.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(seed)
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):  # splitmix64
        h = (h ^ (h >> np.uint64(shift))) * np.uint64(mult)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(40)).astype(np.float32) / np.float32(2**23) - np.float32(1)


def _noise(x: np.ndarray, y: np.ndarray, cell: float, seed: int, smooth: bool = True) -> np.ndarray:
    """Value noise at frame points: lattice values every `cell` metres, smoothstep-
    interpolated (or the nearest cell, for field parcels)."""
    gx, gy = x / cell, y / cell
    i0, j0 = int(np.floor(gx.min())), int(np.floor(gy.min()))
    gx, gy = gx - i0, gy - j0
    table = _lattice(seed, i0, j0, int(max(gx.max(), gy.max())) + 1)
    i, j = gx.astype(np.int64), gy.astype(np.int64)
    tx, ty = gx - i, gy - j
    if smooth:
        tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
    else:
        tx, ty = np.round(tx), np.round(ty)
    top = table[j, i] * (1 - tx) + table[j, i + 1] * tx
    bottom = table[j + 1, i] * (1 - tx) + table[j + 1, i + 1] * tx
    return top * (1 - ty) + bottom * ty


# (lattice cell in metres, weight) of the landscape's octaves
_OCTAVES = ((3000.0, 0.45), (900.0, 0.25), (300.0, 0.15), (100.0, 0.10))


def _ground(tile: _Tile, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(relief, vegetation fraction 0..1) at the tile's pixels: the same for every date."""
    land = 0.25 * _noise(tile.x, tile.y, 400.0, seed, smooth=False)  # field parcels
    for k, (cell, weight) in enumerate(_OCTAVES):
        land += weight * _noise(tile.x, tile.y, cell, seed + 1 + k)
    land = _pixels(tile, land)
    return land, 1 / (1 + np.exp(-3 * land))


def _sky(tiles: list[_Tile], date: int, seed: int) -> list[np.ndarray]:
    """Cloud opacity 0..1 of one date at each tile's pixels; one sky for all tiles, its
    threshold set so that about CLOUDS[date] percent of the ground is cloudy."""
    fields = [
        0.7 * _noise(t.x, t.y, 2500.0, seed + 100 + date)
        + 0.3 * _noise(t.x, t.y, 600.0, seed + 200 + date)
        for t in tiles
    ]
    target = CLOUDS[date % len(CLOUDS)]
    sample = np.concatenate([f[::4, ::4].ravel() for f in fields])
    threshold = np.quantile(sample, 1 - target / 100)
    return [
        _pixels(t, np.clip((f - threshold) * 5, 0, 1)) for t, f in zip(tiles, fields, strict=True)
    ]


def _greenness(day: float) -> float:
    """Vegetation vigour `day` days after START: a monsoon green-up (logistic)."""
    return 0.3 + 0.6 / (1 + float(np.exp(-(day - 25) / 8)))


# Band -> (bare-ground reflectance x 10000, its change under full green vegetation, and
# with relief): vegetation darkens the visible bands (red most) and brightens the NIR.
_SURFACE = {
    "B02": (1000, -600, 200),
    "B03": (1200, -200, 220),
    "B04": (1500, -1100, 250),
    "B08": (2300, 2700, 200),
}


def _reflectance(
    ground: tuple[np.ndarray, np.ndarray],
    sky: np.ndarray,
    day: float,
    rng: np.random.Generator,
    bands: Sequence[str],
) -> dict[str, np.ndarray]:
    """`bands` (uint16 reflectance x 10000, 0 reserved for nodata) of one scene."""
    land, veg = ground
    green = veg * _greenness(day)
    out = {}
    for band in bands:
        base, gain, relief = _SURFACE[band]
        value = base + gain * green + relief * land
        value += sky * (6500 - value)  # thick cloud: bright in both bands, NDVI near 0
        value += rng.standard_normal(value.shape, dtype=np.float32) * 30
        out[band] = np.clip(value, 1, 20000).astype(np.uint16)
    return out


@dataclass(frozen=True)
class _Options:
    """The arguments of `write_scenes` that every scene is written with."""

    root: Path
    seed: int
    bands: tuple[str, ...]
    stack: bool
    start: dt.datetime
    step_days: float
    tile_size: int
    writer: CogWriter


def _scene(
    i: int, tile: _Tile, ground: tuple[np.ndarray, np.ndarray], sky: np.ndarray, opt: _Options
) -> Scene:
    """Render and write scene `i` (date i // 2) of `tile`."""
    date = i // len(TILES)
    day = opt.step_days * date
    when = opt.start + dt.timedelta(days=day)
    scene_id = f"S2{'AB'[date % 2]}_{tile.mgrs}_{when:%Y%m%d}_0_L2A"
    bands = _reflectance(ground, sky, day, np.random.default_rng([opt.seed, i]), opt.bands)
    corner = i % 3 == 2
    if corner:
        rows, cols = np.ogrid[: tile.size, : tile.size]
        cut = rows + cols < int(0.4 * tile.size)
        for array in bands.values():
            array[cut] = 0
    valid = next(iter(bands.values())) > 0
    cover = 100.0 * float((valid & (sky > 0)).sum()) / max(int(valid.sum()), 1)
    nodata_pct = round(100.0 * (1 - float(valid.mean())), 3)
    folder = opt.root / "scenes" / scene_id
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: array[None] for name, array in bands.items()}
    if opt.stack:
        arrays["stack"] = np.stack(list(bands.values()))
    files = {}
    for name, array in arrays.items():
        files[name] = path = folder / f"{name}.tif"
        opt.writer(path, array, tile.epsg, tile.transform, 0, tile_size=opt.tile_size)
    return Scene(scene_id, when, tile.epsg, tile.mgrs, tile.transform, tile.size,
                 round(cover, 2), corner, nodata_pct, files)  # fmt: skip


def write_scenes(
    root: Path,
    n: int = 8,
    size: int = 1024,
    seed: int = 0,
    *,
    bands: Sequence[str] = ("B04", "B08"),
    stack: bool = False,
    start: dt.datetime = START,
    step_days: float = STEP_DAYS,
    tile_size: int = 256,
    writer: CogWriter = write_cog,
) -> list[Scene]:
    """Write `n` scenes (alternating tiles, one date per pair, `step_days` apart from
    `start`) under `root/scenes/<id>/`: one COG per band of `bands` (any of BANDS), and
    with `stack` one more of all of them ("stack.tif"); uint16, nodata 0, `tile_size` px
    tiles. `write_cog` writes them (deflate + predictor 2, overviews) unless `writer` is
    given. The same arguments write the same pixels."""
    if n < 1 or size < 64:
        raise ValueError("write_scenes needs at least one scene of at least 64 pixels")
    unknown = sorted(set(bands) - set(_SURFACE))
    if unknown or not bands:
        raise ValueError(f"bands must be some of {', '.join(_SURFACE)}, not {list(bands)}")
    opt = _Options(Path(root), seed, tuple(bands), stack, start, step_days, tile_size, writer)
    tiles = [_tile(epsg, mgrs, fx, fy, size) for epsg, mgrs, fx, fy in TILES]
    # Threads: numpy and imagecodecs release the GIL. On an interrupt, queued scenes are
    # dropped and running ones finish, so nothing writes after the caller cleans up.
    pool = ThreadPoolExecutor(min(8, os.cpu_count() or 1))
    try:
        grounds = list(pool.map(lambda t: _ground(t, seed), tiles))
        skies = list(pool.map(lambda d: _sky(tiles, d, seed), range(-(-n // len(TILES)))))
        k = len(TILES)

        def scene(i: int) -> Scene:
            return _scene(i, tiles[i % k], grounds[i % k], skies[i // k][i % k], opt)

        return list(pool.map(scene, range(n)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def footprint(
    epsg: int, transform: Sequence[float], size: int, nodata_corner: bool, per_edge: int = 8
) -> tuple[dict[str, Any], list[float]]:
    """GeoJSON lon/lat polygon of the valid area of a `size` x `size` scene and its bbox:
    without the upper-left triangle of `nodata_corner` scenes; `per_edge` points on each
    edge (UTM edges curve in lon/lat)."""
    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
    a, _, c, _, e, f = transform[:6]
    k = int(0.4 * size)
    corners = [(0, 0), (size, 0), (size, size), (0, size)]
    if nodata_corner:
        corners = [(k, 0), (size, 0), (size, size), (0, size), (0, k)]
    xs: list[float] = []
    ys: list[float] = []
    for (c0, r0), (c1, r1) in zip(corners, corners[1:] + corners[:1], strict=True):
        for s in np.linspace(0, 1, per_edge, endpoint=False):
            xs.append(c + a * (c0 + s * (c1 - c0)))
            ys.append(f + e * (r0 + s * (r1 - r0)))
    lon, lat = to_lonlat.transform(xs, ys)
    coords = [[round(x, 7), round(y, 7)] for x, y in zip(lon, lat, strict=True)]
    coords.append(coords[0])
    bbox = [round(v, 7) for v in (min(lon), min(lat), max(lon), max(lat))]
    return {"type": "Polygon", "coordinates": [coords]}, bbox


def _item(scene: Scene, root: Path, base_url: str) -> dict[str, Any]:
    geometry, bbox = footprint(scene.epsg, scene.transform, scene.size, scene.nodata_corner)
    common = {name: common for name, common, _ in BANDS}
    eo = {name: {"name": name, "common_name": common, "center_wavelength": um}
          for name, common, um in BANDS}  # fmt: skip
    raster = {"nodata": 0, "data_type": "uint16", "spatial_resolution": RES}
    assets = {}
    for name, path in scene.files.items():
        if name == "stack":
            names = [n for n in scene.files if n != "stack"]
            title = f"{','.join(names)} stack"
        else:
            names, title = [name], f"{common[name].capitalize()} ({name})"
        assets[name] = {
            "href": f"{base_url}/{path.relative_to(root).as_posix()}",
            "type": COG_TYPE,
            "roles": ["data"],
            "title": f"{title} - 10m",
            "eo:bands": [eo[n] for n in names],
            "raster:bands": [raster] * len(names),
            "proj:shape": [scene.size, scene.size],
            "proj:transform": list(scene.transform),
        }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": scene.id,
        "bbox": bbox,
        "geometry": geometry,
        "properties": {
            "datetime": scene.datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "platform": scene.platform,
            "constellation": "sentinel-2",
            "eo:cloud_cover": scene.cloud_cover,
            "proj:code": f"EPSG:{scene.epsg}",
            "grid:code": f"MGRS-{scene.mgrs}",
        },
        "links": [],
        "assets": assets,
    }


def write_item_collection(scenes: list[Scene], root: Path, base_url: str) -> Path:
    """`root/items.json`: a STAC ItemCollection of `scenes` whose asset hrefs are under
    `base_url` (an HTTP server that serves `root`)."""
    base_url = base_url.rstrip("/")
    items = [_item(s, root, base_url) for s in scenes]
    path = root / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    return path


def _degrees(metres: float) -> tuple[float, float]:
    """(lon, lat) degrees spanning `metres` at the AOI (a local approximation)."""
    lat = np.radians(AOI_LONLAT[1])
    return metres / (111_320 * np.cos(lat)), metres / 110_574


def aoi_bbox(size: int) -> tuple[float, float, float, float]:
    """A lon/lat box centred on the zone boundary, a fifth of a tile wide: both tiles cover
    it, so its reads merge records from two UTM zones."""
    dlon, dlat = _degrees(0.1 * size * RES)
    lon, lat = AOI_LONLAT
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def random_points(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` random lon/lat points within 0.15 tile widths of the AOI centre, where both
    tiles (one per UTM zone) overlap."""
    dlon, dlat = _degrees(0.15 * size * RES)
    rng = np.random.default_rng([seed, n])
    lon = AOI_LONLAT[0] + rng.uniform(-dlon, dlon, n)
    lat = AOI_LONLAT[1] + rng.uniform(-dlat, dlat, n)
    return lon, lat


__all__ = [
    "AOI_LONLAT",
    "BANDS",
    "CLOUDS",
    "COG_TYPE",
    "RES",
    "START",
    "STEP_DAYS",
    "TILES",
    "CogWriter",
    "Scene",
    "Transform",
    "aoi_bbox",
    "footprint",
    "random_points",
    "tile_transform",
    "write_item_collection",
    "write_scenes",
]
