"""Items shaped like real annual products whose time is a range (`datetime: null`, a
`start_datetime`/`end_datetime` pair): ESA WorldCover 2021, Impact Observatory's annual
LULC v02 and USDA's Cropland Data Layer, as the Planetary Computer serves them.

Their footprints and pixels are the synthetic scenes' (a stand-in for the real tiles), so
`proj:epsg` is the scene file's own.
"""

from __future__ import annotations

from typing import Any

COG = "image/tiff; application=geotiff; profile=cloud-optimized"


def _scene(stac_files: Any, i: int) -> tuple[dict[str, Any], int]:
    item = stac_files.items[i]
    return item, item["properties"]["proj:epsg"]


def worldcover_2021(stac_files: Any) -> dict[str, Any]:
    scene, epsg = _scene(stac_files, 0)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/raster/v1.0.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
            "https://stac-extensions.github.io/classification/v1.0.0/schema.json",
        ],
        "id": "ESA_WorldCover_10m_2021_v200_N18E075",
        "collection": "esa-worldcover",
        "bbox": scene["bbox"],
        "geometry": scene["geometry"],
        "properties": {
            "datetime": None,
            "start_datetime": "2021-01-01T00:00:00Z",
            "end_datetime": "2021-12-31T23:59:59Z",
            "mission": "sentinel-1, sentinel-2",
            "platform": "sentinel-1a, sentinel-1b, sentinel-2a, sentinel-2b",
            "instruments": ["c-sar", "msi"],
            "description": "ESA WorldCover product at 10m resolution for year 2021",
            "esa_worldcover:product_tile": "N18E075",
            "esa_worldcover:product_version": "2.0.0",
            "proj:epsg": epsg,
        },
        "links": [],
        "assets": {
            "map": {
                "href": scene["assets"]["red"]["href"],
                "type": COG,
                "roles": ["data"],
                "title": "Land Cover Classes",
                "raster:bands": [
                    {"nodata": 0, "sampling": "area", "data_type": "uint16",
                     "spatial_resolution": 10}
                ],
                "classification:classes": [
                    {"value": 10, "description": "Tree cover", "color-hint": "006400"},
                    {"value": 50, "description": "Built-up", "color-hint": "FA0000"},
                ],
            },
            "rendered_preview": {
                "href": "https://planetarycomputer.microsoft.com/api/data/v1/item/preview.png",
                "type": "image/png",
                "roles": ["overview"],
                "rel": "preview",
            },
        },
    }  # fmt: skip


def io_lulc(stac_files: Any, year: int) -> dict[str, Any]:
    scene, epsg = _scene(stac_files, 1)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
            "https://stac-extensions.github.io/file/v2.0.0/schema.json",
        ],
        "id": f"44Q-{year}",
        "collection": "io-lulc-annual-v02",
        "bbox": scene["bbox"],
        "geometry": scene["geometry"],
        "properties": {
            "datetime": None,
            "start_datetime": f"{year}-01-01T00:00:00Z",
            "end_datetime": f"{year + 1}-01-01T00:00:00Z",
            "io:tile_id": "44Q",
            "io:supercell_id": "44Q",
            "proj:epsg": epsg,
        },
        "links": [],
        "assets": {
            "data": {
                "href": scene["assets"]["nir"]["href"],
                "type": COG,
                "roles": ["data"],
                "title": "Global land use/land cover data",
                "file:values": [{"values": [1], "summary": "Water"}],
            }
        },
    }


def usda_cdl(stac_files: Any, year: int) -> dict[str, Any]:
    scene, epsg = _scene(stac_files, 2)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.0.0/schema.json",
        ],
        "id": f"{year}_cropland_0",
        "collection": "usda-cdl",
        "bbox": scene["bbox"],
        "geometry": scene["geometry"],
        "properties": {
            "datetime": None,
            "start_datetime": f"{year}-01-01T00:00:00Z",
            "end_datetime": f"{year}-12-31T23:59:59Z",
            "usda_cdl:type": "cropland",
            "proj:epsg": epsg,
        },
        "links": [],
        "assets": {
            "cropland": {
                "href": scene["assets"]["green"]["href"],
                "type": COG,
                "roles": ["data"],
                "title": "Cropland Data Layer (CDL)",
                "raster:bands": [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 30}],
            }
        },
    }


def annual_items(stac_files: Any) -> list[dict[str, Any]]:
    """WorldCover 2021, IO LULC 2020-2022 and CDL 2021-2022."""
    return [
        worldcover_2021(stac_files),
        *(io_lulc(stac_files, year) for year in (2020, 2021, 2022)),
        *(usda_cdl(stac_files, year) for year in (2021, 2022)),
    ]
