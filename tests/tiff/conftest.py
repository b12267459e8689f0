"""Fixtures of the TIFF engine tests: the generated GeoTIFF matrix (once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiff.fixtures_tiff import generate


@pytest.fixture(scope="session")
def tiff_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{case name: path} of every file in `fixtures_tiff.CASES`."""
    return generate(tmp_path_factory.mktemp("tiff-matrix"))
