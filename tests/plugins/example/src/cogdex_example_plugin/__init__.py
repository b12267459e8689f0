"""A third-party cogdex plugin, as a user would ship one: one dataset and one output, one module.

Installed into the test environment as a workspace member, it proves that cogdex finds plugins
through the `cogdex` entry-point group with no change to core, and that they need only
`cogdex` and `cogdex.sdk`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cogdex.sdk import DatasetEntry, OutputAdapter, StacSource, hookimpl

if TYPE_CHECKING:  # entry points load with every cogdex command: nothing heavy at import
    from cogdex import Collection


@hookimpl
def cogdex_datasets() -> list[DatasetEntry]:
    return [
        DatasetEntry(
            id="example/field-survey",
            name="Example field survey",
            description="A dataset shipped by a third-party plugin",
            source=StacSource("https://stac.example.com/v1", "field-survey"),
            license="CC0-1.0",
            commercial_use=True,
            coverage="nowhere in particular",
            bands={"red": "red", "nir": "nir"},
        )
    ]


def footprints(collection: Collection, properties: Sequence[str] = ()) -> dict[str, Any]:
    """The records' footprints (CRS84) as a GeoJSON FeatureCollection, one Feature per record
    with its `id`, `datetime` and the columns named in `properties`."""
    import shapely

    table = collection.to_arrow()
    shapes = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    rows = table.select(["id", "datetime", *properties]).to_pylist()
    features = [
        {
            "type": "Feature",
            "id": row["id"],
            "geometry": json.loads(shapely.to_geojson(shape)),
            "properties": {
                "datetime": row["datetime"].isoformat(),
                **{name: row[name] for name in properties},
            },
        }
        for row, shape in zip(rows, shapes, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


@hookimpl
def cogdex_adapters() -> list[OutputAdapter]:
    return [OutputAdapter("footprints", footprints, "GeoJSON FeatureCollection of footprints")]
