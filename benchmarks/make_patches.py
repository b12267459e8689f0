"""The patch scenario's data: Major-TOM-style keyed patches, GeoTIFF payloads in Parquet.

    uv run python benchmarks/make_patches.py /tmp/labdata-h8/tg60 /tmp/labdata-h8/patches

Cuts band B04 of the lab's first `--scenes` scenes (by date, both UTM zones) into
`--size` px patches on each scene's grid, keeping those without nodata whose centre lies in
the item's footprint (Major-TOM keeps patches of valid data), and writes, as Major-TOM
does, the payloads and the metadata apart: `patches.parquet` (key, GeoTIFF bytes; sorted
by key, row groups of about a scene's patches, so a filter on keys prunes row groups) and
`patches.json` (key -> product id, EPSG code and bounds in that CRS: where the patch lies
in its source COG).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
import shapely
from rasterio.io import MemoryFile
from rasterio.warp import transform as transform_xy
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

BAND = "B04"
ROW_GROUP = 64
"""Rows per row group: about one scene's patches (keys start with the scene id)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", type=Path, help="a make_scenes.py folder (items.json, scenes/)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    items = json.loads((a.data / "items.json").read_text())["features"]
    items = sorted(items, key=lambda it: (it["properties"]["datetime"], it["id"]))[: a.scenes]
    keys, payloads, meta = [], [], {}
    for item in items:
        footprint = shapely.geometry.shape(item["geometry"])
        with rasterio.open(a.data / "scenes" / item["id"] / f"{BAND}.tif") as src:
            profile = {
                "driver": "GTiff", "count": 1, "dtype": src.dtypes[0], "crs": src.crs,
                "nodata": src.nodata, "compress": "deflate", "predictor": 2,
                "width": a.size, "height": a.size,
            }  # fmt: skip
            for row in range(src.height // a.size):
                for col in range(src.width // a.size):
                    window = Window(col * a.size, row * a.size, a.size, a.size)
                    pixels = src.read(1, window=window)
                    x0, y0, x1, y1 = window_bounds(window, src.transform)
                    lon, lat = transform_xy(src.crs, "EPSG:4326", [(x0 + x1) / 2], [(y0 + y1) / 2])
                    if (pixels == src.nodata).any() or not footprint.contains(
                        shapely.Point(lon[0], lat[0])
                    ):
                        continue
                    key = f"{item['id']}_{row:02d}_{col:02d}"
                    with MemoryFile() as mem:
                        tf = window_transform(window, src.transform)
                        with mem.open(**profile, transform=tf) as dst:
                            dst.write(pixels, 1)
                        payloads.append(mem.read())
                    keys.append(key)
                    meta[key] = {
                        "product_id": item["id"],
                        "epsg": src.crs.to_epsg(),
                        "bounds": [x0, y0, x1, y1],
                    }
    a.out.mkdir(parents=True, exist_ok=True)
    table = pa.table({"key": keys, BAND: pa.array(payloads, pa.binary())}).sort_by("key")
    pq.write_table(table, a.out / "patches.parquet", row_group_size=ROW_GROUP)
    (a.out / "patches.json").write_text(json.dumps(meta))
    print(f"{len(keys)} patches of {a.size} px from {len(items)} scenes in {a.out}")


if __name__ == "__main__":
    main()
