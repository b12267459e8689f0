"""A collection of the synthetic scenes (B04, B08 and the 4-band stack) for the pixel API."""

from __future__ import annotations

import pytest

import cogdex


@pytest.fixture(scope="session")
def pixel_coll(stac_files, tmp_path_factory):
    return cogdex.build_from_stac(
        stac_files.items_json,
        name="pixels",
        bands=["B04", "B08", "stack:2", "stack:3"],
        cache_dir=tmp_path_factory.mktemp("pixel-cache"),
    )
