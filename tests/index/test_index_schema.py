"""The index schema: exact header round trips, model coverage, versions, validation."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

from cogdex.errors import IndexSchemaError
from cogdex.index import schema as S
from cogdex.index.store import geo_metadata
from cogdex.tiff.header import parse_header
from cogdex.tiff.model import Georeference, Level, TIFFHeader
from tests.tiff.fixtures_tiff import generate


@pytest.fixture(scope="module")
def matrix_headers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TIFFHeader]:
    """Headers of the TIFF engine's whole file matrix (masks, JPEG tables, strips, BigTIFF,
    big-endian, GCP-less/rotated georeferencing, metadata...)."""
    files = generate(tmp_path_factory.mktemp("matrix"))
    return {name: parse_header(Path(p).read_bytes(), source=str(p)) for name, p in files.items()}


def test_every_model_field_is_mapped() -> None:
    S.check_model()
    level_fields = {f.name for f in dataclasses.fields(Level)}
    assert level_fields == set(S.LEVEL_TYPE.names)


def test_matrix_headers_round_trip_exactly(matrix_headers: dict[str, TIFFHeader]) -> None:
    names = list(matrix_headers)
    headers = [matrix_headers[n] for n in names]
    array = S.headers_to_arrow(headers)
    assert array.type == S.HEADER_TYPE
    back = S.headers_from_arrow(array)
    assert [n for n, a, b in zip(names, headers, back, strict=True) if a != b] == []
    # the matrix covers the awkward fields
    assert any(lv.mask is not None for h in headers for lv in h.levels)
    assert any(h.base.jpeg_tables for h in headers)
    assert any(h.bigtiff for h in headers) and any(h.byte_order == ">" for h in headers)


def test_round_trip_through_parquet_keeps_headers_and_nulls(
    matrix_headers: dict[str, TIFFHeader], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    headers = [*matrix_headers.values()][:10]
    with_gaps = [headers[0], None, *headers[1:], None]
    table = pa.table({"h": S.headers_to_arrow(with_gaps)})
    pq.write_table(table, tmp_path / "h.parquet")
    back = S.headers_from_arrow(pq.read_table(tmp_path / "h.parquet").column("h"))
    assert back[1] is None and back[-1] is None
    assert [b for b in back if b is not None] == headers


def _level(width: int, tiles: int, **kw) -> Level:
    return Level(
        width=width,
        height=width,
        tile_width=256,
        tile_height=256,
        tiled=True,
        tile_offsets=np.arange(tiles, dtype=np.uint64) * 2**40,
        tile_byte_counts=np.full(tiles, 7, np.uint64),
        compression=8,
        predictor=2,
        bits_per_sample=16,
        sample_format=1,
        samples_per_pixel=1,
        planar=1,
        photometric=1,
        dtype="uint16",
        **kw,
    )


def test_edge_values_round_trip() -> None:
    """Offsets past 4 GiB, NaN nodata, PROJJSON CRS, GCPs, None scales, empty levels."""
    h = TIFFHeader(
        size=2**41,
        byte_order=">",
        bigtiff=True,
        levels=(_level(512, 4, mask=_level(512, 4)), _level(256, 0)),
        georef=Georeference(crs='{"type": "ProjectedCRS"}', gcps=((0.0, 1.0, 2.0, 3.0, 4.0),)),
        nodata=math.nan,
        descriptions=(None,),
        scales=(None,),
        offsets=(-0.1,),
        units=("m",),
        metadata={"AREA_OR_POINT": "Area"},
        band_metadata=({"k": "v"},),
    )
    back = S.headers_from_arrow(S.headers_to_arrow([h, None]))
    assert back == [h, None]
    assert back[0].levels[0].tile_offsets.dtype == np.uint64
    assert int(back[0].levels[0].tile_offsets[-1]) == 3 * 2**40


def test_newer_schema_version_is_refused_with_a_clear_message() -> None:
    meta = S.IndexMetadata(name="x", bands={"b": S.BandRef("b")})
    doc = json.loads(meta.to_json())
    doc["schema_version"] = S.SCHEMA_VERSION + 1
    v = S.SCHEMA_VERSION
    with pytest.raises(IndexSchemaError, match=rf"schema version {v + 1}.*up to {v}: upgrade"):
        S.IndexMetadata.from_json(json.dumps(doc).encode(), "idx.parquet")
    back = S.IndexMetadata.from_json(meta.to_json(), "idx.parquet")
    assert back.bands == {"b": S.BandRef("b", 0)}


def test_validate_names_each_missing_column_and_field() -> None:
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("datetime", pa.string()),
            ("assets", pa.struct([("red", pa.struct([("href", pa.string())]))])),
        ]
    )
    bands = {"B04": S.BandRef("red"), "B08": S.BandRef("nir")}
    with pytest.raises(IndexSchemaError) as info:
        S.validate(schema, bands, "my table")
    text = str(info.value)
    for expected in (
        "column 'geometry' is missing",
        "column 'bbox' is missing",
        "datetime: expected timestamp[us, tz=UTC], found string",
        "assets.red.header: missing",
        "assets.nir (bands B08) is missing",
    ):
        assert expected in text


def test_geometry_types_read_from_iso_and_extended_wkb_headers() -> None:
    polygon = shapely.box(0, 0, 1, 1)
    point_z = shapely.Point(1, 2, 3)
    wkb = [
        shapely.to_wkb(polygon),
        None,
        shapely.to_wkb(point_z, flavor="iso"),
        shapely.to_wkb(point_z, flavor="extended", byte_order=0),  # big-endian, EWKB Z flag
    ]
    bbox = pa.array([dict.fromkeys(("xmin", "ymin", "xmax", "ymax"), 0.0)] * len(wkb))

    def types(rows: slice) -> list[str]:
        table = pa.table({"geometry": pa.array(wkb[rows], pa.binary()), "bbox": bbox[rows]})
        return geo_metadata(table)["columns"]["geometry"]["geometry_types"]

    assert types(slice(None)) == ["Point Z", "Polygon"]
    assert types(slice(3, 4)) == ["Point Z"]  # the flag alone marks Z
