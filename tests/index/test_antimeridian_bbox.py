"""A lon/lat bbox across the antimeridian, written west > east as RFC 7946 and the STAC API
write it, filters and searches everywhere a bbox does (subset, the STAC API, static and
table builds, catalog datasets, the CLI), finding what its two sides find together; a
brute-force Shapely answer (the union of the two sides' boxes) is the reference. Each was
refused before ("xmin > xmax"), so a Pacific search had to be split by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import antimeridian
import numpy as np
import pyarrow as pa
import pytest
import shapely
import shapely.geometry
from pyproj import Transformer

import cogdex
from cogdex import plugins
from cogdex.cli import main
from cogdex.datasets import DatasetEntry, StacSource, TableSource
from cogdex.errors import GeometryError
from cogdex.hookspecs import hookimpl
from cogdex.index import stac_api as client
from cogdex.testing import write_cog
from tests.servers.scenes import COLLECTION

DEG = 0.01  # the pixel size of the lon/lat files: 64 px are 0.64 degrees


def _sides(box):
    w, s, e, n = box
    return [(w, s, 180.0, n), (-180.0, s, e, n)] if w > e else [box]


def _area(box) -> shapely.Geometry:
    """What a bbox means: its box, or the union of its two sides."""
    return shapely.union_all([shapely.box(*side) for side in _sides(box)])


def _brute(records: dict[str, tuple], box) -> list[str]:
    """The ids of `records` (id -> an RFC 7946 bbox) whose bbox meets `box`."""
    area = _area(box)
    return sorted(k for k, rec in records.items() if _area(rec).intersects(area))


@pytest.fixture(scope="module")
def pacific(tmp_path_factory):
    """Small COGs on both sides of 180 degrees, one across it (UTM 60N, its footprint cut
    into two parts) and one at Greenwich, as STAC items (geometry, RFC 7946 bbox), a
    static ItemCollection and a table of WKB footprints."""
    tmp = tmp_path_factory.mktemp("pacific")
    corners = {  # upper-left corner of a 64 px lon/lat file
        "fiji-east": (177.0, -17.0),
        "fiji-west": (-179.9, -16.0),
        "edge-east": (179.36, -18.0),  # its east edge is 180
        "aleutians": (-175.0, 52.0),
        "greenwich": (0.0, 10.0),
    }
    files, shapes = {}, {}
    for name, (lon, lat) in corners.items():
        transform = (DEG, 0, lon, 0, -DEG, lat)
        files[name] = write_cog(tmp / f"{name}.tif", np.ones((64, 64), np.uint16), 4326, transform)
        shapes[name] = shapely.box(lon, lat - 64 * DEG, lon + 64 * DEG, lat)
    x, y = Transformer.from_crs(4326, 32660, always_xy=True).transform(180.0, 60.0)
    transform = (100, 0, x - 12_800, 0, -100, y + 12_800)
    files["across"] = write_cog(
        tmp / "across.tif", np.ones((256, 256), np.uint16), 32660, transform
    )
    shapes["across"] = shapely.MultiPolygon(
        [shapely.box(179.77, 59.88, 180, 60.12), shapely.box(-180, 59.88, -179.77, 60.12)]
    )
    boxes = {
        k: tuple(antimeridian.bbox(s)) if k == "across" else s.bounds for k, s in shapes.items()
    }
    assert boxes["across"][0] > boxes["across"][2]  # RFC 7946: west > east
    items = [
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": name,
            "bbox": list(boxes[name]),
            "geometry": shapely.geometry.mapping(shapes[name]),
            "properties": {"datetime": "2024-01-01T00:00:00Z"},
            "assets": {"data": {"href": str(path), "type": "image/tiff; application=geotiff"}},
            "links": [],
        }
        for name, path in files.items()
    ]
    static = tmp / "items.json"
    static.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    table = pa.table({"id": list(files), "datetime": ["2024-01-01T00:00:00Z"] * len(files),
                      "geometry": [shapes[k].wkb for k in files],
                      "href": [str(p) for p in files.values()]})  # fmt: skip
    coll = cogdex.build_from_stac(static, name="pacific", cache_dir=tmp / "cache")
    return {"boxes": boxes, "static": static, "table": table, "coll": coll, "tmp": tmp}


ACROSS = [
    (170.0, -20.0, -170.0, -10.0),  # Fiji: both sides
    (179.5, 50.0, -179.5, 70.0),  # the file across 180 only
    (178.0, -17.5, -179.5, -16.5),  # the west side only
    (0.5, 5.0, -179.95, 60.0),  # most of the globe: Greenwich and the file across 180
    (179.999, -90.0, -179.999, 90.0),  # a strip over the antimeridian: what reaches it
    (175.0, 55.0, -175.0, 58.0),  # latitudes of nothing
]


@pytest.mark.parametrize("lazy", [False, True], ids=["in-memory", "loaded-lazily"])
def test_subset_finds_what_the_two_sides_find(pacific, lazy):
    coll = cogdex.load(pacific["coll"].location) if lazy else pacific["coll"]
    for box in ACROSS:
        found = sorted(coll.subset(bbox=box).ids)
        split = sorted({i for side in _sides(box) for i in coll.subset(bbox=side).ids})
        assert found == split == _brute(pacific["boxes"], box), box
    assert sorted(coll.subset(bbox=ACROSS[0]).ids) == ["edge-east", "fiji-east", "fiji-west"]


def test_subset_geometries_takes_a_box_across_as_its_two_sides(pacific):
    coll = pacific["coll"]
    for box in ACROSS:
        sides = [shapely.box(*side) for side in _sides(box)]
        assert coll.subset(geometries=box).ids == coll.subset(geometries=sides).ids, box


def _static(pacific, box):
    return cogdex.build_from_stac(pacific["static"], name="s", bbox=box, cache=False).ids


def _table(pacific, box):
    return cogdex.build_from_table(pacific["table"], name="t", bbox=box, cache=False).ids


def _bare_table(pacific, box):
    table = pacific["table"].drop_columns(["geometry"])  # footprints from the headers
    return cogdex.build_from_table(table, name="t", bbox=box, cache=False).ids


@pytest.mark.parametrize(
    "build", [_static, _table, _bare_table], ids=["static-items", "table", "bare-table"]
)
def test_builds_find_what_the_two_sides_find(pacific, build):
    """Static items are searched by their bbox (RFC 7946), table rows by their footprint's
    (their header's when the table has none); a search that finds nothing is not built, so
    only boxes that find something are here."""
    for box in ACROSS[:5]:
        found = sorted(build(pacific, box))
        split = sorted({i for side in _sides(box) if _brute(pacific["boxes"], side)
                        for i in build(pacific, side)})  # fmt: skip
        assert found == split == _brute(pacific["boxes"], box), box


# The API serves the test scenes at 78E: 43QHV over 77.93..78.03, 44QKE over 77.97..78.07.
API_BOXES = [
    (78.05, 19.0, 77.92, 21.0),  # 44QKE by its east side; nothing west of 77.92
    (78.04, 19.0, 77.95, 21.0),  # both tiles, one by each side
    (78.1, 19.0, 77.9, 21.0),  # neither: the box leaves out 77.9..78.1
]


def _api_brute(stac_files, box) -> list[str]:
    area = _area(box)
    return sorted(i["id"] for i in stac_files.items
                  if shapely.geometry.shape(i["geometry"]).intersects(area))  # fmt: skip


def test_a_stac_api_search_finds_what_the_two_sides_find(stac_api, stac_files):
    """The API's own reading of a west > east bbox is the box from east to west, the rest
    of the world: the search sends the two sides as `intersects` (see `stac._search_area`).
    Once the API reads it as the spec says, the first assertion fails and the bbox can go
    as given."""
    raw = client.search(stac_api.url, {"collections": [COLLECTION], "bbox": list(API_BOXES[0])})
    assert sorted(i["id"] for i in raw) != _api_brute(stac_files, API_BOXES[0])
    for box in API_BOXES:
        want = _api_brute(stac_files, box)
        if not want:
            with pytest.raises(cogdex.BuildError, match="no items"):
                cogdex.build_from_stac(stac_api.url, COLLECTION, name="a", bbox=box, cache=False)
            continue
        got = cogdex.build_from_stac(stac_api.url, COLLECTION, name="a", bbox=box, cache=False,
                                     bands=["B04"], max_items=len(want))  # fmt: skip
        split = {i for side in _sides(box) for i in _api_brute(stac_files, side)}
        assert sorted(got.ids) == want == sorted(split), box
    assert {i[:9] for i in _api_brute(stac_files, API_BOXES[0])} == {"S2A_44QKE", "S2B_44QKE"}


class _Datasets:
    """Catalog entries over the test API and over a table of Pacific files."""

    def __init__(self, api_url: str, table: Path) -> None:
        common = {"license": "CC0-1.0", "commercial_use": True, "coverage": "test"}
        self.api = DatasetEntry(id="amtest/api", name="api", description="",
                                source=StacSource(api_url, COLLECTION), bands={"B04": "red"},
                                **common)  # fmt: skip
        self.table = DatasetEntry(id="amtest/table", name="table", description="",
                                  source=TableSource(str(table)), **common)  # fmt: skip

    @hookimpl
    def cogdex_datasets(self) -> list[DatasetEntry]:
        return [self.api, self.table]


def test_catalog_datasets_take_a_box_across(stac_api, stac_files, pacific, tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pacific["table"], tmp_path / "pacific.parquet")
    datasets = _Datasets(stac_api.url, tmp_path / "pacific.parquet")
    plugins.register(datasets, name="amtest")
    try:
        api = cogdex.build("amtest/api", name="a", bbox=API_BOXES[0], cache=False)
        table = cogdex.build("amtest/table", name="t", bbox=ACROSS[0], cache=False)
    finally:
        plugins.unregister(datasets)
    assert sorted(api.ids) == _api_brute(stac_files, API_BOXES[0])
    assert sorted(table.ids) == _brute(pacific["boxes"], ACROSS[0])


def test_the_cli_builds_over_a_box_across(pacific, tmp_path, capsys):
    args = ["collections", "build", "--stac", str(pacific["static"]), "--name", "cli",
            "--cache-dir", str(tmp_path), "--bbox", "170,-20,-170,-10"]  # fmt: skip
    assert main(args) in (0, None)
    capsys.readouterr()
    built = cogdex.load(tmp_path / "collections" / "cli.parquet")
    assert sorted(built.ids) == _brute(pacific["boxes"], ACROSS[0])


NONSENSE = {  # a bad box, and what the error names
    (190.0, 0.0, -170.0, 10.0): r"xmin 190 is outside lon \[-180, 180\]",
    (170.0, 10.0, -170.0, 0.0): r"ymin > ymax \(south 10 > north 0\)",
    (170.0, -95.0, -170.0, 0.0): r"ymin -95 is outside lat \[-90, 90\]",
    (170.0, 0.0, math.inf, 10.0): r"not all finite \(xmax is inf\)",
    (170.0, math.nan, -170.0, 10.0): r"not all finite \(ymin is nan\)",
    (170.0, 0.0, 190.0, 10.0): r"xmax 190 is outside .* write west > east: \(170, 0, -170, 10\)",
}


@pytest.mark.parametrize("box", list(NONSENSE), ids=lambda b: ",".join(f"{v:g}" for v in b))
def test_nonsense_is_refused_where_it_enters_naming_the_coordinate(pacific, stac_api, box, capsys):
    """Each was refused before too, but a west > east box for its "xmin > xmax" whatever
    else was wrong with it, and a non-finite value without saying which."""
    coll, problem = pacific["coll"], NONSENSE[box]
    calls = {
        "subset": lambda: coll.subset(bbox=box),
        "subset-geometries": lambda: coll.subset(geometries=box),
        "static": lambda: _static(pacific, box),
        "table": lambda: _table(pacific, box),
        "api": lambda: cogdex.build_from_stac(stac_api.url, COLLECTION, name="a", bbox=box),
    }
    for name, call in calls.items():
        with pytest.raises(GeometryError, match=problem) as err:
            call()
        assert err.value.argument in ("bbox", "geometries"), name
    text = ",".join(f"{v:g}" for v in box)
    with pytest.raises(SystemExit):
        main(["collections", "build", "--stac", "x.json", "--name", "n", f"--bbox={text}"])
    assert "--bbox must be" in capsys.readouterr().err
