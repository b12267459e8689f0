"""Header fetching (requests counted on a real HTTP Range server) and the header model."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_origin

import cogdex
from cogdex.io import fetch
from cogdex.io.runtime import run
from cogdex.testing import RangeServer
from cogdex.tiff.header import HeaderParser, parse_header, read_header
from cogdex.tiff.ifd import ByteView, Missing
from cogdex.tiff.model import TIFFHeader


def _ramp(height: int, width: int, count: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([(xx + 3 * yy + 97 * b) % 251 for b in range(count)]).astype(np.uint8)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A GDAL COG (overviews + mask), a COG with ~10k tiles, and a plain GTiff whose
    overviews (IFDs and tile arrays) were appended at the end of the file."""
    folder = tmp_path_factory.mktemp("layouts")
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(500_000, 5_200_000, 10, 10),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    paths = {}
    src = folder / "src.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(src, "w", width=1500, height=1200, count=3, **profile) as ds:
            ds.write(_ramp(1200, 1500, 3))
            mask = np.full((1200, 1500), 255, np.uint8)
            mask[:300, :200] = 0
            ds.write_mask(mask)
        paths["cog"] = folder / "cog.tif"
        rio_copy(src, paths["cog"], driver="COG", blocksize=256, compress="deflate")
    paths["many_tiles"] = folder / "many_tiles.tif"
    with rasterio.open(
        folder / "many_src.tif", "w", width=2048, height=2048, count=1, **profile
    ) as ds:
        ds.write(_ramp(2048, 2048)[None, 0])
    rio_copy(folder / "many_src.tif", paths["many_tiles"], driver="COG", blocksize=128)
    paths["appended"] = folder / "appended.tif"
    with rasterio.open(paths["appended"], "w", width=1500, height=1200, count=1, **profile) as ds:
        noise = np.random.default_rng(7).integers(0, 256, (1, 1200, 1500), dtype=np.uint8)
        ds.write(noise)
    with rasterio.open(paths["appended"], "r+") as ds:
        ds.build_overviews([2, 4, 8], Resampling.nearest)
    return paths


@pytest.fixture(scope="module")
def http(layouts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The layouts on a real HTTP server that honours Range (one range per request)."""
    log = tmp_path_factory.mktemp("http-log") / "http.log"
    server = RangeServer(layouts["cog"].parent, log).start()
    try:
        yield server.url
    finally:
        server.close()


def test_gdal_cog_opens_in_one_request(layouts: dict[str, Path], http: str) -> None:
    for url in (layouts["cog"], f"{http}/cog.tif"):
        with fetch.recording() as rec:
            tif = cogdex.open(url)
        assert rec.requests == 1, url
        assert tif.overviews[:2] == [(750, 600), (375, 300)]
        assert tif.has_mask


def test_tile_index_beyond_the_prefix_costs_one_more_request(
    layouts: dict[str, Path], http: str
) -> None:
    """With a prefix that holds only the IFDs, every tile array comes in one more request."""
    path = layouts["many_tiles"]
    whole = parse_header(path.read_bytes())
    assert whole.base.tile_offsets.size == 256
    with fetch.recording() as rec:
        header = run(read_header(f"{http}/many_tiles.tif", prefix=1500))
    assert rec.requests == 2
    assert header == whole


def test_ifds_at_the_end_are_fetched_in_few_rounds(layouts: dict[str, Path], http: str) -> None:
    path = layouts["appended"]
    assert path.stat().st_size > 300_000  # the overview IFDs lie far beyond the prefix
    with fetch.recording() as rec:
        tif = cogdex.open(f"{http}/appended.tif")
    assert tif.overviews == [(750, 600), (375, 300), (188, 150)]
    assert rec.requests <= 3
    assert tif.header == parse_header(path.read_bytes())


@pytest.mark.parametrize("name", ["cog", "many_tiles", "appended"])
def test_any_prefix_gives_the_same_header(name: str, layouts: dict[str, Path]) -> None:
    data = layouts[name].read_bytes()
    whole = parse_header(data)
    for prefix in (16, 200, 1000, 4096, 20_000):
        parser = HeaderParser(name, len(data))
        parser.feed(0, data[:prefix])
        rounds = 0
        while needs := parser.missing():
            rounds += 1
            assert rounds < 10
            for start, end in needs:
                parser.feed(start, data[start:end])
        assert parser.header() == whole, prefix


def test_one_round_asks_for_every_missing_array_of_every_known_ifd(
    layouts: dict[str, Path],
) -> None:
    data = layouts["many_tiles"].read_bytes()
    parser = HeaderParser("many", len(data))
    parser.feed(0, data[:4096])
    needs = parser.missing()
    # All IFDs of this COG sit in the first 4 KiB: one round names all their tile arrays,
    # merged into as few ranges as their placement allows, and nothing already known.
    for start, end in needs:
        assert end > 4096 and start >= 0
    for start, end in needs:
        parser.feed(start, data[start:end])
    assert parser.missing() == []
    assert len(needs) <= 2


def test_header_round_trips_through_dict_json_and_pickle(layouts: dict[str, Path]) -> None:
    header = cogdex.open(layouts["cog"]).header
    as_dict = header.to_dict()
    text = json.dumps(as_dict, default=lambda a: a.tolist(), allow_nan=False)
    assert TIFFHeader.from_dict(json.loads(text)) == header
    assert TIFFHeader.from_dict(as_dict) == header
    assert pickle.loads(pickle.dumps(header)) == header
    assert isinstance(as_dict["levels"][0]["tile_offsets"], np.ndarray)
    assert as_dict["levels"][0]["tile_offsets"].dtype == np.uint64
    assert as_dict["levels"][0]["mask"]["width"] == 1500
    assert as_dict["crs"] == 32633


def test_nan_nodata_and_user_defined_crs_survive_json(tmp_path: Path) -> None:
    path = tmp_path / "nan.tif"
    crs = "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m"
    with rasterio.open(
        path, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
        crs=crs, transform=from_origin(100, 200, 1, 1), nodata=float("nan"),
    ) as ds:  # fmt: skip
        ds.write(np.full((1, 8, 8), np.nan, np.float32))
    header = cogdex.open(path).header
    text = json.dumps(header.to_dict(), default=lambda a: a.tolist(), allow_nan=False)
    back = TIFFHeader.from_dict(json.loads(text))
    assert math.isnan(back.nodata)
    assert isinstance(back.georef.crs, str)
    assert back == header


def test_geotiff_from_a_stored_header_reads_without_a_header_request(
    layouts: dict[str, Path], http: str
) -> None:
    url = f"{http}/cog.tif"
    stored = json.loads(json.dumps(cogdex.open(url).header.to_dict(), default=lambda a: a.tolist()))
    tif = cogdex.GeoTIFF.from_header(stored, url)
    with fetch.recording() as rec:
        window = tif.read(window=(300, 280, 20, 30))
    assert rec.requests == 1  # one tile, no header
    with rasterio.open(layouts["cog"]) as ds:
        expected = ds.read(window=rasterio.windows.Window(300, 280, 20, 30))
    assert np.array_equal(window, expected)
    assert pickle.loads(pickle.dumps(tif)).read(window=(300, 280, 20, 30)).tobytes() == (
        expected.tobytes()
    )


def test_import_cogdex_stays_light() -> None:
    code = "import sys, cogdex; print(sorted(m for m in ('numpy', 'pyproj', 'imagecodecs') if m in sys.modules))"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_known_units_are_what_proj_reports() -> None:
    """The units kept in code to skip PROJ lookups agree with PROJ's own database."""
    import pyproj
    from pyproj.database import get_units_map

    from cogdex.tiff import geokeys

    units = {unit.code: unit for unit in get_units_map(auth_name="EPSG").values()}
    for code, (name, factor, category) in geokeys.KNOWN_UNITS.items():
        unit = units[str(code)]
        assert (unit.name, unit.conv_factor, unit.category) == (name, factor, category)
    for table, kind in ((geokeys.KNOWN_LINEAR_UNITS, "is_projected"),
                        (geokeys.KNOWN_ANGULAR_UNITS, "is_geographic")):  # fmt: skip
        for code, expected in table.items():
            crs = pyproj.CRS.from_epsg(code)
            axis = crs.axis_info[0]
            assert getattr(crs, kind), code
            assert (axis.unit_name, axis.unit_conversion_factor, int(axis.unit_code)) == expected


def test_byte_view_matches_a_reference_under_random_fetches() -> None:
    """Spans added in any order and overlap (never merged by copying) answer `has` and `get`
    as one buffer would, and `Missing` names the first byte not known."""
    rng = np.random.default_rng(5)
    size = 4000
    reference = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    known = np.zeros(size, bool)
    view = ByteView("x", size)
    for _ in range(300):
        start = int(rng.integers(0, size))
        end = min(size, start + int(rng.integers(1, 200)))
        view.add(start, reference[start:end])
        known[start:end] = True
        for _ in range(5):
            a = int(rng.integers(0, size))
            b = min(size, a + int(rng.integers(1, 300)))
            assert view.has(a, b - a) == bool(known[a:b].all())
            if known[a:b].all():
                assert bytes(view.get(a, b - a)) == reference[a:b]
            else:
                with pytest.raises(Missing) as info:
                    view.get(a, b - a)
                assert info.value.start == a + int(np.argmin(known[a:b]))
    assert view._starts == sorted(view._starts)
    ends = [s + len(d) for s, d in zip(view._starts, view._spans, strict=True)]
    assert all(e <= s for e, s in zip(ends, view._starts[1:], strict=False))
