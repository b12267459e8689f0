"""Deterministic synthetic Sentinel-2-like COG scenes written by GDAL, and their STAC
metadata: the data every server fixture serves.

Scenes alternate between the two overlapping MGRS-like tiles of `cogdex.testing.scenes` in
UTM 43N (EPSG:32643) and 44N (EPSG:32644) that both cover the AOI point (78.0E, 20.0N) on
the zone boundary (the same grids and footprints), one pair of acquisitions every 5 days.
Pixels are a multi-octave smooth landscape plus clouds and sensor noise (deflate +
predictor 2 compresses them about as well as real L2A); every third scene has a nodata (0)
triangle in its upper-left corner, like a swath edge. Unlike the demo's scenes (cogdex's
own writer), these are written by GDAL (rio-cogeo), as most COGs are, with four bands and a
4-band stack: the suite checks cogdex against files it did not write. Adapted from the
lab's make_scenes.py, so the project runs its tests without ../shared.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rustac
from affine import Affine
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from cogdex.testing.scenes import AOI_LONLAT as AOI_LONLAT  # the tests' AOI too
from cogdex.testing.scenes import COG_TYPE, RES, TILES, footprint, tile_transform

COLLECTION = "sentinel-2-l2a"
# (file/band name, earth-search asset key, centre wavelength um, fwhm um)
BANDS = (
    ("B02", "blue", 0.490, 0.098),
    ("B03", "green", 0.560, 0.045),
    ("B04", "red", 0.665, 0.038),
    ("B08", "nir", 0.842, 0.145),
)
ASSETS = (*(b[0] for b in BANDS), "stack")
_LEVELS = {"B02": (900, -500), "B03": (1100, -300), "B04": (1600, -1200), "B08": (1800, 2600)}


@dataclass(frozen=True)
class Scene:
    """One acquisition: four single-band COGs and a 4-band stack, all on one grid."""

    id: str
    index: int
    datetime: dt.datetime
    platform: str
    epsg: int
    mgrs: str
    cloud_cover: float
    transform: Affine
    size: int
    nodata_corner: bool
    nodata_pct: float
    files: dict[str, Path]
    """Asset name ("B02", "B03", "B04", "B08", "stack") -> absolute path."""
    keys: dict[str, str]
    """Asset name -> object key, the same on every server ("scenes/<id>/B04.tif")."""

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the scene's CRS."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.size, self.size)
        return left, bottom, right, top


@dataclass(frozen=True)
class SceneSet:
    """Scenes written under `root` (keys are relative to it)."""

    root: Path
    scenes: tuple[Scene, ...]
    blocksize: int
    seed: int

    def files(self) -> list[Path]:
        """Every COG of every scene."""
        return [p for s in self.scenes for p in s.files.values()]

    def key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class StacFiles:
    """STAC metadata of a SceneSet whose asset hrefs point at one HTTP server."""

    base_url: str
    items: list[dict[str, Any]]
    items_json: Path
    """A STAC ItemCollection (GeoJSON FeatureCollection)."""
    collection_json: Path
    items_parquet: Path
    """stac-geoparquet, what the STAC API serves."""


def _upsample(rng: np.random.Generator, coarse: int, size: int, smooth: bool = True) -> np.ndarray:
    """Value noise: a random (coarse+1)^2 grid, smoothstep- (or nearest-) upsampled to size^2."""
    src = rng.standard_normal((coarse + 1, coarse + 1), dtype=np.float32)
    pos = (np.arange(size, dtype=np.float32) + 0.5) * (coarse / size)
    i0 = np.minimum(pos.astype(np.int64), coarse - 1)
    t = pos - i0
    w = (t * t * (3 - 2 * t)) if smooth else (t >= 0.5).astype(np.float32)
    rows = src[i0] * (1 - w)[:, None] + src[i0 + 1] * w[:, None]
    return rows[:, i0] * (1 - w)[None, :] + rows[:, i0 + 1] * w[None, :]


def _landscape(n_tile: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(relief, vegetation index 0..1) of a tile: the same in every scene of the tile."""
    tile_rng = np.random.default_rng([seed, n_tile])
    land = np.zeros((size, size), np.float32)
    for coarse, weight in ((3, 0.45), (12, 0.25), (48, 0.15), (192, 0.10), (size // 8, 0.05)):
        land += weight * _upsample(tile_rng, max(min(coarse, size), 2), size)
    land += 0.25 * _upsample(tile_rng, max(size // 40, 2), size, smooth=False)  # ~400 m fields
    return land, 1 / (1 + np.exp(-3 * land))


def _pixels(
    landscape: tuple[np.ndarray, np.ndarray],
    scene_rng: np.random.Generator,
    cloud_cover: float,
    nodata_corner: bool,
) -> np.ndarray:
    """(4, size, size) uint16: the tile's landscape under this scene's season, clouds, noise."""
    land, veg = landscape
    size = land.shape[0]
    season = 0.8 + 0.4 * scene_rng.random()
    cloud = None
    if cloud_cover > 0:
        c = 0.7 * _upsample(scene_rng, 6, size) + 0.3 * _upsample(scene_rng, 24, size)
        step = max(size // 256, 1)
        threshold = np.quantile(c[::step, ::step], 1 - cloud_cover / 100)
        cloud = np.clip((c - threshold) * 4, 0, 1)
    out = np.empty((4, size, size), np.uint16)
    for b, (name, *_) in enumerate(BANDS):
        a0, a1 = _LEVELS[name]
        arr = a0 + a1 * veg * season + 300 * land
        if cloud is not None:
            arr += cloud * (6500 - arr)
        arr += scene_rng.standard_normal((size, size), dtype=np.float32) * 30.0
        out[b] = np.clip(arr, 1, 20000).astype(np.uint16)  # 0 is reserved for nodata
    if nodata_corner:
        yy, xx = np.ogrid[:size, :size]
        out[:, (xx + yy) < int(0.4 * size)] = 0
    return out


def _write_cog(path: Path, data: np.ndarray, transform: Affine, epsg: int, blocksize: int) -> None:
    count, height, width = data.shape
    src_profile = {
        "driver": "GTiff",
        "dtype": "uint16",
        "count": count,
        "height": height,
        "width": width,
        "crs": f"EPSG:{epsg}",
        "transform": transform,
        "nodata": 0,
    }
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=blocksize, blockysize=blocksize, predictor=2, interleave="pixel")
    # cog_translate's temporary uncompressed copy inherits predictor=2 and GDAL warns that it
    # ignores it there (once per file); the COG itself is deflate + predictor 2.
    gdal_log = logging.getLogger("rasterio._env")
    level = gdal_log.level
    gdal_log.setLevel(logging.ERROR)
    try:
        with MemoryFile() as mem:
            with mem.open(**src_profile) as ds:
                ds.write(data)
                if count == len(BANDS):
                    ds.descriptions = tuple(b[0] for b in BANDS)
            with mem.open() as src:
                cog_translate(
                    src,
                    str(path),
                    profile,
                    nodata=0,
                    overview_resampling="nearest",
                    in_memory=True,
                    quiet=True,
                    config={
                        "GDAL_NUM_THREADS": "ALL_CPUS",
                        "GDAL_TIFF_OVR_BLOCKSIZE": str(blocksize),
                    },
                )
    finally:
        gdal_log.setLevel(level)


def make_scenes(
    root: Path, n: int = 8, size: int = 1024, blocksize: int = 512, seed: int = 42
) -> SceneSet:
    """Write `n` scenes under `root/scenes/<id>/` and return their metadata."""
    transforms = [Affine(*tile_transform(epsg, fx, fy, size)) for epsg, _, fx, fy in TILES]
    landscapes = [_landscape(n_tile, size, seed) for n_tile in range(len(TILES))]
    start = dt.datetime(2024, 1, 1, 5, 28, 31, tzinfo=dt.UTC)
    scenes = []
    for i in range(n):
        n_tile = i % len(TILES)
        rng = np.random.default_rng([seed, 999, i])
        cloud = rng.choice(
            [rng.uniform(0, 10), rng.uniform(10, 60), rng.uniform(60, 95)], p=[0.5, 0.35, 0.15]
        )
        when = start + dt.timedelta(days=5 * (i // 2))
        platform = "sentinel-2a" if (i // 2) % 2 == 0 else "sentinel-2b"
        epsg, mgrs = TILES[n_tile][:2]
        scene_id = f"S2{platform[-1].upper()}_{mgrs}_{when:%Y%m%d}_0_L2A"
        nodata_corner = i % 3 == 2
        scene_rng = np.random.default_rng([seed, n_tile, i, 1])
        data = _pixels(landscapes[n_tile], scene_rng, float(cloud), nodata_corner)
        folder = root / "scenes" / scene_id
        folder.mkdir(parents=True, exist_ok=True)
        files = {name: folder / f"{name}.tif" for name in ASSETS}
        for b, (name, *_) in enumerate(BANDS):
            _write_cog(files[name], data[b : b + 1], transforms[n_tile], epsg, blocksize)
        _write_cog(files["stack"], data, transforms[n_tile], epsg, blocksize)
        scenes.append(
            Scene(
                id=scene_id,
                index=i,
                datetime=when,
                platform=platform,
                epsg=epsg,
                mgrs=mgrs,
                cloud_cover=round(float(cloud), 2),
                transform=transforms[n_tile],
                size=size,
                nodata_corner=nodata_corner,
                nodata_pct=round(100.0 * float((data[0] == 0).mean()), 3),
                files=files,
                keys={name: p.relative_to(root).as_posix() for name, p in files.items()},
            )
        )
    return SceneSet(root, tuple(scenes), blocksize, seed)


def _item(scene: Scene, base_url: str) -> dict[str, Any]:
    geometry, bbox = footprint(scene.epsg, scene.transform, scene.size, scene.nodata_corner, 10)
    common = {
        "type": COG_TYPE,
        "roles": ["data"],
        "gsd": RES,
        "proj:shape": [scene.size, scene.size],
        "proj:transform": list(scene.transform)[:6],
    }
    raster_band = {
        "nodata": 0,
        "data_type": "uint16",
        "spatial_resolution": RES,
        "scale": 0.0001,
        "offset": -0.1,
    }
    eo = {
        name: {"name": name, "common_name": key, "center_wavelength": cw, "full_width_half_max": fw}
        for name, key, cw, fw in BANDS
    }
    assets: dict[str, Any] = {
        key: {
            "href": f"{base_url}/{scene.keys[name]}",
            "title": f"{key.capitalize()} ({name}) - 10m",
            **common,
            "eo:bands": [eo[name]],
            "raster:bands": [raster_band],
        }
        for name, key, *_ in BANDS
    }
    assets["stack"] = {
        "href": f"{base_url}/{scene.keys['stack']}",
        "title": "B02,B03,B04,B08 stack - 10m",
        **common,
        "eo:bands": list(eo.values()),
        "raster:bands": [raster_band] * len(BANDS),
    }
    stamp = scene.datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": scene.id,
        "collection": COLLECTION,
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "bbox": bbox,
        "geometry": geometry,
        "properties": {
            "datetime": stamp,
            "platform": scene.platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": scene.cloud_cover,
            "proj:epsg": scene.epsg,
            "proj:code": f"EPSG:{scene.epsg}",
            "grid:code": f"MGRS-{scene.mgrs}",
            "s2:nodata_pixel_percentage": scene.nodata_pct,
        },
        "links": [
            {"rel": "collection", "href": f"{base_url}/collection.json", "type": "application/json"}
        ],
        "assets": assets,
    }


def write_stac(scenes: SceneSet, base_url: str) -> StacFiles:
    """Write items.json, collection.json and items.parquet under `scenes.root`, with asset
    hrefs under `base_url` (the HTTP server that serves `scenes.root`)."""
    base_url = base_url.rstrip("/")
    items = [_item(s, base_url) for s in scenes.scenes]
    lon = [v for it in items for v in it["bbox"][0::2]]
    lat = [v for it in items for v in it["bbox"][1::2]]
    times = sorted(it["properties"]["datetime"] for it in items)
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION,
        "description": "Synthetic Sentinel-2 L2A-like COGs (cogdex test data)",
        "license": "CC0-1.0",
        "extent": {
            "spatial": {"bbox": [[min(lon), min(lat), max(lon), max(lat)]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [],
        "item_assets": {k: {"type": COG_TYPE, "roles": ["data"]} for k in items[0]["assets"]},
    }
    root = scenes.root
    (root / "collection.json").write_text(json.dumps(collection, indent=1))
    (root / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    rustac.write_sync(str(root / "items.parquet"), items)
    return StacFiles(
        base_url, items, root / "items.json", root / "collection.json", root / "items.parquet"
    )
