"""Microsoft Planetary Computer: https://planetarycomputer.microsoft.com/api/stac/v1

Assets live in Azure Blob Storage and are read with short-lived SAS tokens, which the
`cogdex[azure]` plugin requests and refreshes at read time (the index stores plain URLs).
"""

from __future__ import annotations

from cogdex.sdk import DatasetEntry, StacSource

API = "https://planetarycomputer.microsoft.com/api/stac/v1"
_S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL"]
_S2_COMMON = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}


def _pc(
    id_: str,
    name: str,
    description: str,
    collection: str,
    *,
    license: str,
    coverage: str,
    bands: dict[str, str],
    temporal: str = "",
) -> DatasetEntry:
    return DatasetEntry(
        id=f"pc/{id_}",
        name=f"{name} (Planetary Computer)",
        description=description,
        source=StacSource(API, collection),
        license=license,
        commercial_use=True,
        coverage=coverage,
        temporal=temporal,
        bands=bands,
        auth="planetary-computer",
        cloud="azure",
        homepage=f"https://planetarycomputer.microsoft.com/dataset/{collection}",
    )


ENTRIES = [
    _pc(
        "sentinel-2-l2a",
        "Sentinel-2 L2A",
        "Sentinel-2 surface reflectance COGs, 10-60 m",
        "sentinel-2-l2a",
        license="proprietary (Copernicus Sentinel data terms: free, incl. commercial use)",
        coverage="global land, 2015 onwards",
        temporal="2015-06-27/..",
        bands={**{b: b for b in _S2}, **_S2_COMMON},
    ),
    _pc(
        "io-lulc-annual-v02",
        "Esri/Impact Observatory 10 m Annual Land Use Land Cover",
        "9-class annual land cover, 10 m",
        "io-lulc-annual-v02",
        license="CC-BY-4.0",
        coverage="global land, 2017 onwards",
        temporal="2017-01-01/..",
        bands={"LULC": "data", "data": "data"},
    ),
    _pc(
        "alos-dem",
        "ALOS World 3D 30 m",
        "JAXA digital surface model, 30 m",
        "alos-dem",
        license="proprietary (JAXA AW3D30 terms: free with attribution)",
        coverage="global land",
        bands={"DEM": "data", "data": "data"},
    ),
    _pc(
        "nasadem",
        "NASADEM",
        "SRTM-based elevation, 30 m",
        "nasadem",
        license="public domain (NASA)",
        coverage="60N-56S",
        temporal="2000-02-11/2000-02-21",
        bands={"DEM": "elevation", "elevation": "elevation"},
    ),
    _pc(
        "esa-worldcover",
        "ESA WorldCover",
        "11-class land cover, 10 m, 2020 and 2021",
        "esa-worldcover",
        license="CC-BY-4.0",
        coverage="global land",
        temporal="2020-01-01/2021-12-31",
        bands={"MAP": "map", "map": "map"},
    ),
    _pc(
        "usda-cdl",
        "USDA Cropland Data Layer",
        "annual crop-specific land cover, 30 m",
        "usda-cdl",
        license="public domain (USDA NASS)",
        coverage="contiguous United States",
        temporal="2008-01-01/..",
        bands={
            "CDL": "cropland",
            "cropland": "cropland",
            "cultivated": "cultivated",
            "confidence": "confidence",
            "frequency": "frequency",
        },
    ),
]
