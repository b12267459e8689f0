"""sample_points against rasterio's `sample` on the same files, over the HTTP server."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import rasterio
import shapely
from pyproj import Transformer

import cogdex
from cogdex.errors import EmptyReadWarning
from cogdex.io import fetch
from tests.servers.scenes import AOI_LONLAT, SceneSet

LON, LAT = AOI_LONLAT


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 3000
    return LON + rng.uniform(-0.08, 0.08, n), LAT + rng.uniform(-0.08, 0.08, n)


def _expected(scenes: SceneSet, lon, lat, bands) -> set[tuple]:
    """(point, record, band, value, row, col) from rasterio for every point inside a file."""
    rows = set()
    for scene in scenes.scenes:
        x, y = Transformer.from_crs(4326, scene.epsg, always_xy=True).transform(lon, lat)
        for band in bands:
            with rasterio.open(scene.files[band]) as ds:
                r, c = rasterio.transform.rowcol(ds.transform, x, y, op=np.floor)
                r, c = np.asarray(r), np.asarray(c)
                inside = np.flatnonzero((r >= 0) & (r < ds.height) & (c >= 0) & (c < ds.width))
                values = [v[0] for v in ds.sample(zip(x[inside], y[inside], strict=True))]
            for p, v, rr, cc in zip(inside, values, r[inside], c[inside], strict=True):
                rows.add((int(p), scene.id, band, int(v), int(rr), int(cc)))
    return rows


def test_values_equal_rasterio_sample(pixel_coll, scenes: SceneSet, points):
    lon, lat = points
    table = pixel_coll.sample_points((lon, lat), ["B04", "B08"])
    assert table.schema.field("value").type == pa.uint16()  # native type
    got = set(
        zip(
            table.column("point_id").to_pylist(),
            table.column("id").to_pylist(),
            table.column("band").to_pylist(),
            table.column("value").to_pylist(),
            table.column("row").to_pylist(),
            table.column("col").to_pylist(),
            strict=True,
        )
    )
    assert got == _expected(scenes, lon, lat, ["B04", "B08"])
    assert table.num_rows == len(got)
    by_id = {s.id: s.datetime for s in scenes.scenes}
    for rid, when in zip(
        table.column("id").to_pylist()[:50], table.column("datetime").to_pylist()[:50], strict=True
    ):
        assert when == by_id[rid]


def test_each_tile_is_fetched_once(pixel_coll, points):
    lon, lat = points
    with fetch.recording() as rec:
        pixel_coll.sample_points((lon, lat), "B04")
    source = pixel_coll.band_source("B04")
    all_tiles = sum(int(source.header(i).base.tile_byte_counts.sum()) for i in range(len(source)))
    assert rec.bytes <= all_tiles * 1.01  # never the same tile twice


def test_point_inputs_and_ids(pixel_coll, points):
    lon, lat = points
    lon, lat = lon[:20], lat[:20]
    by_arrays = pixel_coll.sample_points((lon, lat), "B04")
    shapes = shapely.points(lon, lat)
    by_shapely = pixel_coll.sample_points(list(shapes), "B04")
    wkb = pa.table({"geometry": shapely.to_wkb(shapes), "name": [f"p{i}" for i in range(20)]})
    by_table = pixel_coll.sample_points(wkb, "B04", id_column="name")
    utm = Transformer.from_crs(4326, 32644, always_xy=True).transform(lon, lat)
    by_utm = pixel_coll.sample_points(pa.table({"x": utm[0], "y": utm[1]}), "B04",
                                      geometry_crs=32644)  # fmt: skip

    def rows(table: pa.Table) -> list[tuple]:
        cols = [table.column(k).to_pylist() for k in ("point_id", "id", "value")]
        return sorted(zip(*cols, strict=True))

    assert rows(by_shapely) == rows(by_arrays) == rows(by_utm)
    names = by_table.column("point_id").to_pylist()
    assert set(names) <= {f"p{i}" for i in range(20)}
    with pytest.raises(ValueError, match="not a Point"):
        pixel_coll.sample_points([shapely.box(0, 0, 1, 1)], "B04")


def test_points_outside_every_scene_give_no_rows(pixel_coll):
    with pytest.warns(EmptyReadWarning, match="covers the points"):
        table = pixel_coll.sample_points((np.array([10.0]), np.array([10.0])), "B04")
    assert table.num_rows == 0


def test_rows_by_record_then_file_then_point_and_stack_samples(pixel_coll, scenes, points):
    """The table's order (records as in the collection; within one, each file's bands in
    the order asked, a stack's together; then the points in input order), and samples 2 and
    3 of the 4-band stack (B02, B03, B04, B08) equal the single-band B04 and B08 files."""
    lon, lat = points
    table = pixel_coll.sample_points((lon, lat), ["B04", "stack:2", "B08", "stack:3"])
    record = table.column("id").combine_chunks().indices.to_numpy()
    band = table.column("band").combine_chunks().indices.to_numpy()
    point = table.column("point_id").to_numpy()
    file_rank = np.array([0, 1, 2, 1])[band]  # B04, stack, B08: first-asked order of files
    key = np.lexsort((point, band, file_rank, record))
    np.testing.assert_array_equal(key, np.arange(table.num_rows))
    assert (np.diff(record) >= 0).all() and len(np.unique(record)) == len(scenes.scenes)
    value = table.column("value").to_numpy()
    for single, sample in ((0, 1), (2, 3)):
        np.testing.assert_array_equal(value[band == single], value[band == sample])
    assert table.schema == pa.schema(
        {"point_id": pa.int64(), "id": pa.dictionary(pa.int32(), pa.string()),
         "datetime": table.schema.field("datetime").type,
         "band": pa.dictionary(pa.int32(), pa.string()), "value": pa.uint16(),
         "row": pa.int32(), "col": pa.int32()}
    )  # fmt: skip


def test_arrow_ids_follow_their_points(pixel_coll, points):
    lon, lat = points
    names = pa.array([f"p{i}" for i in range(len(lon))])
    named = pixel_coll.sample_points(pa.table({"x": lon, "y": lat, "name": names}), "B08",
                                     id_column="name")  # fmt: skip
    plain = pixel_coll.sample_points((lon, lat), "B08")
    expected = names.take(plain.column("point_id").combine_chunks())
    assert named.column("point_id").combine_chunks().equals(expected)
    assert named.drop_columns("point_id").equals(plain.drop_columns("point_id"))


def test_points_on_pixel_edges_in_the_scene_crs(pixel_coll, scenes: SceneSet):
    """Points given in a scene's own CRS exactly on its pixel edges (a label raster's corners,
    a grid of the same lattice) fall in the pixel right/below the edge, as rasterio's
    `rowcol` puts them, and the image's right/bottom edges are outside it. They used to go
    through lon/lat and back, which moved about half of them into the pixel left/above and
    sampled the bottom edge (outside the image) from its last row."""
    scene = scenes.scenes[0]
    a, _, c, _, e, f = scene.transform[:6]
    ks = np.array([0, 1, 2, 255, 256, 511, 512, 700, scene.size - 1, scene.size])
    cols, rows = (k.ravel() for k in np.meshgrid(ks, ks))
    x, y = c + cols * a, f + rows * e
    table = pixel_coll.sample_points((x, y), "B04", geometry_crs=scene.epsg)
    mine = table.filter(pc.equal(table.column("id").cast(pa.string()), scene.id))
    got = {(p, r, cc, v) for p, r, cc, v in zip(
        *(mine.column(k).to_pylist() for k in ("point_id", "row", "col", "value")), strict=True
    )}  # fmt: skip
    with rasterio.open(scene.files["B04"]) as ds:
        rc = rasterio.transform.rowcol(ds.transform, x, y, op=np.floor)
        r, cc = (np.asarray(v, dtype=np.int64) for v in rc)
        assert (r == rows).all() and (cc == cols).all()  # the lattice is exact in floats
        inside = np.flatnonzero((r < ds.height) & (cc < ds.width))
        band = ds.read(1)
    want = {(int(p), int(r[p]), int(cc[p]), int(band[r[p], cc[p]])) for p in inside}
    assert got == want


def test_points_on_the_west_and_north_edges_of_a_lonlat_image_are_inside(tmp_path):
    """A point on the west or north edge of an image at 70.3°W on a 0.0001° grid lies in its
    first column or row, as rasterio's `rowcol` says. The inverse transform's `x / a - c / a`
    rounds 1.2e-10 px below 0 there (two terms of 703,000 px cancel), past the edge rule's
    slack, and the point went missing."""
    path = tmp_path / "west.tif"
    origin = rasterio.transform.from_origin(-70.3, -29.9, 1e-4, 1e-4)
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 1, "dtype": "int16",
               "crs": "EPSG:4326", "transform": origin, "tiled": True, "blockxsize": 128,
               "blockysize": 128}  # fmt: skip
    band = np.arange(300 * 200, dtype=np.int16).reshape(200, 300)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(band[None])
    table = pa.table({"id": ["w"], "datetime": ["2024-01-01"], "href": [str(path)]})
    coll = cogdex.build_from_table(table, name="west", cache_dir=tmp_path / "cache")
    centres = (np.arange(0, 200, 7) + 0.5) * 1e-4
    x = np.concatenate([np.full(centres.size, -70.3), -70.3 + centres])  # west edge, north edge
    y = np.concatenate([-29.9 - centres, np.full(centres.size, -29.9)])
    got = coll.sample_points((x, y), "data")
    with rasterio.open(path) as ds:
        rows, cols = (
            np.asarray(v, np.int64) for v in rasterio.transform.rowcol(ds.transform, x, y)
        )
    assert ((rows == 0) | (cols == 0)).all()
    np.testing.assert_array_equal(np.asarray(got.column("point_id")), np.arange(x.size))
    np.testing.assert_array_equal(np.asarray(got.column("col")), cols)
    np.testing.assert_array_equal(np.asarray(got.column("row")), rows)
    np.testing.assert_array_equal(np.asarray(got.column("value")), band[rows, cols])
