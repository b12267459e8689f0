"""GDAL-written synthetic Sentinel-2-like scenes and their STAC metadata: the data every
server fixture serves.

`cogdex.testing.scenes.write_scenes` renders them (the demo's scenes: one landscape and one
sky per date over two overlapping tiles in UTM 43N and 44N around the AOI point 78.0E,
20.0N; every third scene lacks an upper-left triangle, like a swath edge), here with four
bands and a 4-band stack, one pair of acquisitions every 5 days from 2024-01-01, written
by GDAL (rio-cogeo) as most COGs are: the suite checks cogdex against files it did not
write. The items are earth-search-like: assets keyed by common name, scale and offset, a
collection, served as files and as stac-geoparquet.
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
from cogdex.testing.scenes import COG_TYPE, RES, Transform, footprint, write_scenes

COLLECTION = "sentinel-2-l2a"
# (file/band name, earth-search asset key, centre wavelength um, fwhm um)
BANDS = (
    ("B02", "blue", 0.490, 0.098),
    ("B03", "green", 0.560, 0.045),
    ("B04", "red", 0.665, 0.038),
    ("B08", "nir", 0.842, 0.145),
)
START = dt.datetime(2024, 1, 1, 5, 28, 31, tzinfo=dt.UTC)


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


def _write_cog(
    path: Path, data: np.ndarray, epsg: int, transform: Transform, nodata: float, /, *,
    tile_size: int,
) -> None:  # fmt: skip
    """A COG written by GDAL (rio-cogeo), as most COGs are: the `writer` of `write_scenes`."""
    count, height, width = data.shape
    src_profile = {
        "driver": "GTiff",
        "dtype": "uint16",
        "count": count,
        "height": height,
        "width": width,
        "crs": f"EPSG:{epsg}",
        "transform": Affine(*transform),
        "nodata": nodata,
    }
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=tile_size, blockysize=tile_size, predictor=2, interleave="pixel")
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
                nodata=nodata,
                overview_resampling="nearest",
                in_memory=True,
                quiet=True,
                config={
                    "GDAL_NUM_THREADS": "ALL_CPUS",
                    "GDAL_TIFF_OVR_BLOCKSIZE": str(tile_size),
                },
            )


def make_scenes(
    root: Path, n: int = 8, size: int = 1024, blocksize: int = 512, seed: int = 42
) -> SceneSet:
    """Write `n` scenes under `root/scenes/<id>/` and return their metadata."""
    # cog_translate's temporary uncompressed copy inherits predictor=2 and GDAL warns that it
    # ignores it there (once per file); the COG itself is deflate + predictor 2.
    gdal_log = logging.getLogger("rasterio._env")
    level = gdal_log.level
    gdal_log.setLevel(logging.ERROR)
    try:
        written = write_scenes(
            root, n, size, seed, bands=[b[0] for b in BANDS], stack=True, start=START,
            step_days=5, tile_size=blocksize, writer=_write_cog,
        )  # fmt: skip
    finally:
        gdal_log.setLevel(level)
    scenes = tuple(
        Scene(
            id=s.id,
            index=i,
            datetime=s.datetime,
            platform=s.platform,
            epsg=s.epsg,
            mgrs=s.mgrs,
            cloud_cover=s.cloud_cover,
            transform=Affine(*s.transform),
            size=s.size,
            nodata_corner=s.nodata_corner,
            nodata_pct=s.nodata_pct,
            files=s.files,
            keys={name: p.relative_to(root).as_posix() for name, p in s.files.items()},
        )
        for i, s in enumerate(written)
    )
    return SceneSet(root, scenes, blocksize, seed)


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
