"""Areas and points as users pass them: bboxes checked the same way everywhere, one
behaviour for geometries that meet no record, and GeoPandas/GeoJSON with their own CRS."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cogdex
from cogdex.cli import main
from cogdex.errors import EmptyReadWarning, GeometryError
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
AOI = (LON - 0.01, LAT - 0.008, LON + 0.012, LAT + 0.01)
SWAPPED = (LAT - 0.008, LON - 0.01, LAT + 0.01, LON + 0.012)  # in range, but over Russia
BAD_BBOXES = {
    "xmin > xmax": (AOI[2], AOI[1], AOI[0], AOI[3]),
    "ymin > ymax": (AOI[0], AOI[3], AOI[2], AOI[1]),
    "finite": (AOI[0], AOI[1], math.nan, AOI[3]),
    "lat and lon swapped": (37.7, -122.5, 37.8, -122.4),  # San Francisco, swapped
}


def _reads(coll):
    """Every read call that takes an area, as (name, call(area, **kwargs))."""
    return {
        "subset": lambda g, **k: coll.subset(geometries=g, **k),
        "get_numpy": lambda g, **k: coll.get_numpy(g, "B04", **k),
        "get_time_series": lambda g, **k: coll.get_time_series(g, "B04", **k),
        "get_xarray": lambda g, **k: coll.get_xarray(g, "B04", **k),
    }


@pytest.mark.parametrize("problem", list(BAD_BBOXES))
def test_bad_bboxes_raise_one_error_everywhere(pixel_coll, stac_files, tmp_path, problem):
    box = BAD_BBOXES[problem]
    calls = {**_reads(pixel_coll), "subset(bbox=)": lambda b: pixel_coll.subset(bbox=b)}
    for name, call in calls.items():
        with pytest.raises(GeometryError, match=problem) as err:
            call(box)
        assert "(xmin, ymin, xmax, ymax) in lon/lat" in str(err.value), name
        assert isinstance(err.value, ValueError)
    with pytest.raises(GeometryError, match=problem) as err:
        cogdex.build_from_stac(stac_files.items_json, name="bad", bbox=box, cache_dir=tmp_path)
    assert err.value.argument == "bbox" and str(box[0])[:6] in str(err.value)


def test_bad_bbox_in_the_cli_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["collections", "build", "--stac", "x.json", "--name", "n", "--bbox", "79,20,78,21"])
    assert exit_.value.code == 2
    assert "--bbox must be (xmin, ymin, xmax, ymax)" in capsys.readouterr().err


def test_projected_bboxes_are_checked_in_their_crs(pixel_coll):
    with pytest.raises(GeometryError, match=r"in 32644, got \(190000.0"):
        pixel_coll.get_numpy((190000, 2.2e6, 189000, 2.21e6), "B04", geometry_crs=32644)
    with pytest.raises(GeometryError, match="bounds in lon/lat"):  # outside UTM's domain
        pixel_coll.get_numpy((1e9, 2.2e6, 1e9 + 10, 2.21e6), "B04", geometry_crs=32644)
    with pytest.raises(GeometryError, match="points"):
        pixel_coll.sample_points((np.array([LAT]), np.array([-100.0])), "B04")


def test_a_geometry_that_meets_no_record_gives_an_empty_result_and_a_warning(pixel_coll):
    bounds = r"bounds \(19\.992, 77\.99"
    with pytest.warns(EmptyReadWarning, match=bounds):
        data = pixel_coll.get_numpy(SWAPPED, ["B04", "B08"])
    assert data.shape == (0, 2, 0, 0)
    with pytest.warns(EmptyReadWarning, match=bounds):
        series, dates = pixel_coll.get_time_series(SWAPPED, "B04")
    assert series.shape == (0, 0, 0) and dates.shape == (0,)
    with pytest.warns(EmptyReadWarning, match=bounds):
        ds = pixel_coll.get_xarray(SWAPPED, ["B04", "B08"])
    assert ds["B04"].dims == ("time", "y", "x") and ds["B08"].shape == (0, 0, 0)
    with pytest.warns(EmptyReadWarning, match=r"bounds \(19\.992, 77\.99"):
        table = pixel_coll.sample_points(([SWAPPED[0]], [SWAPPED[1]]), "B04")
    assert table.num_rows == 0
    assert len(pixel_coll.subset(geometries=SWAPPED)) == 0


def test_of_several_geometries_only_those_that_meet_nothing_are_named(pixel_coll):
    with pytest.warns(EmptyReadWarning, match="geometry 1 with") as caught:
        data, table = pixel_coll.get_numpy([AOI, SWAPPED], "B04", return_table=True)
    assert len(caught) == 1
    assert set(table.column("geometry_index").to_pylist()) == {0} and len(data) == len(table)
