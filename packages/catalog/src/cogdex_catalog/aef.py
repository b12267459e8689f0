"""AlphaEarth Foundations satellite embeddings, annual (Source Cooperative mirror).

One 64-band int8 COG per UTM tile and year, listed in a GeoParquet index: built with
`build_from_table`, bands A00..A63 are samples of the same file.
"""

from __future__ import annotations

from cogdex.sdk import DatasetEntry, TableSource

ENTRIES = [
    DatasetEntry(
        id="aef/v1-annual",
        name="AlphaEarth Foundations Satellite Embedding v1 (annual)",
        description="64-dimensional learned embeddings, 10 m, one int8 COG per UTM tile and year",
        source=TableSource(
            "s3://us-west-2.opendata.source.coop/tge-labs/aef/v1/annual/aef_index.parquet",
            columns={"href": "path", "datetime": "year", "crs": "crs", "geometry": "geom"},
        ),
        license="CC-BY-4.0",
        commercial_use=True,
        coverage="global land, 2017-2024",
        temporal="2017-01-01/2024-12-31",
        bands={f"A{i:02d}": "data" for i in range(64)},
        band_index={f"A{i:02d}": i for i in range(64)},
        store_options={"region": "us-west-2"},
        homepage="https://source.coop/tge-labs/aef",
    ),
]
