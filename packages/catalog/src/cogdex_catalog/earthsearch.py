"""Element 84 Earth Search (AWS open data): https://earth-search.aws.element84.com/v1"""

from __future__ import annotations

from cogdex.sdk import DatasetEntry, StacSource

API = "https://earth-search.aws.element84.com/v1"

_S2_BANDS = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B11": "swir16",
    "B12": "swir22",
    "SCL": "scl",
    "AOT": "aot",
    "WVP": "wvp",
}
_LANDSAT_BANDS = {
    "B1": "coastal",
    "B2": "blue",
    "B3": "green",
    "B4": "red",
    "B5": "nir08",
    "B6": "swir16",
    "B7": "swir22",
    "B10": "lwir11",
    "QA_PIXEL": "qa_pixel",
    "QA_RADSAT": "qa_radsat",
    "QA_AEROSOL": "qa_aerosol",
}


def _aliases(bands: dict[str, str]) -> dict[str, str]:
    """Band codes plus the asset keys themselves, so both `B04` and `red` work."""
    return {**bands, **{asset: asset for asset in bands.values()}}


ENTRIES = [
    DatasetEntry(
        id="earthsearch/sentinel-2-l2a",
        name="Sentinel-2 L2A (Earth Search)",
        description="Sentinel-2 surface reflectance COGs, 10-60 m, 13 bands + SCL",
        source=StacSource(API, "sentinel-2-l2a"),
        license="proprietary (Copernicus Sentinel data terms: free, incl. commercial use)",
        commercial_use=True,
        coverage="global land, 2015-06-27 onwards",
        temporal="2015-06-27/..",
        bands=_aliases(_S2_BANDS),
        homepage="https://registry.opendata.aws/sentinel-2-l2a-cogs/",
    ),
    DatasetEntry(
        id="earthsearch/landsat-c2-l2",
        name="Landsat Collection 2 Level-2 (Earth Search)",
        description="Landsat 4-9 surface reflectance and temperature COGs, 30 m",
        source=StacSource(API, "landsat-c2-l2"),
        license="public domain (USGS)",
        commercial_use=True,
        coverage="global land, 1982 onwards",
        temporal="1982-08-22/..",
        bands=_aliases(_LANDSAT_BANDS),
        auth="aws",
        cloud="aws",
        requester_pays=True,
        href_rewrites={"https://landsatlook.usgs.gov/data/": "s3://usgs-landsat/"},
        store_options={"region": "us-west-2"},
        homepage="https://registry.opendata.aws/usgs-landsat/",
    ),
    DatasetEntry(
        id="earthsearch/naip",
        name="NAIP (Earth Search)",
        description="USDA aerial imagery, 0.6-1 m, one 4-band (R, G, B, NIR) COG per quarter quad",
        source=StacSource(API, "naip"),
        license="public domain (USDA FSA)",
        commercial_use=True,
        coverage="contiguous United States, 2010 onwards",
        temporal="2010-01-01/..",
        bands={"R": "image", "G": "image", "B": "image", "NIR": "image"},
        band_index={"R": 0, "G": 1, "B": 2, "NIR": 3},
        auth="aws",
        cloud="aws",
        requester_pays=True,
        store_options={"region": "us-west-2"},
        homepage="https://registry.opendata.aws/naip/",
    ),
    DatasetEntry(
        id="earthsearch/cop-dem-glo-30",
        name="Copernicus DEM GLO-30 (Earth Search)",
        description="Global digital surface model, 30 m",
        source=StacSource(API, "cop-dem-glo-30"),
        license="proprietary (Copernicus DEM licence: free, incl. commercial use)",
        commercial_use=True,
        coverage="global land",
        bands={"DEM": "data", "data": "data"},
        store_options={"region": "eu-central-1"},
        homepage="https://registry.opendata.aws/copernicus-dem/",
    ),
    DatasetEntry(
        id="earthsearch/cop-dem-glo-90",
        name="Copernicus DEM GLO-90 (Earth Search)",
        description="Global digital surface model, 90 m",
        source=StacSource(API, "cop-dem-glo-90"),
        license="proprietary (Copernicus DEM licence: free, incl. commercial use)",
        commercial_use=True,
        coverage="global land",
        bands={"DEM": "data", "data": "data"},
        store_options={"region": "eu-central-1"},
        homepage="https://registry.opendata.aws/copernicus-dem/",
    ),
]
