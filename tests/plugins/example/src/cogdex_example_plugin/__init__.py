"""A third-party cogdex plugin, as a user would ship one: one dataset, one module.

Installed into the test environment as a workspace member, it proves that cogdex finds plugins
through the `cogdex` entry-point group with no change to core.
"""

from __future__ import annotations

from cogdex.sdk import DatasetEntry, StacSource, hookimpl


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
