"""Cold processes that build, load, filter and read an index never import pandas, and the
plain build and read paths skip pyarrow.compute too (pyproj is loaded where coordinates are
transformed: PROJ is the one transform path).

pyarrow imports pandas (when installed, as here) the first time its pandas-compatible
converter runs (`to_numpy()`, `pa.array(...)`, `Table.take(ndarray)`): ~0.3 s of every
short-lived job; pyarrow.compute costs ~0.05 s, pyproj ~0.1 s and numpy.ma ~0.01 s.
Each scenario runs in a fresh interpreter and checks `sys.modules` at its end.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

AOI = (77.99, 19.99, 78.01, 20.01)


def _run_without_pandas(body: str, *, also: tuple[str, ...] = ()) -> int | None:
    """Run `body` in a fresh interpreter; the first number it prints, if any. Neither pandas
    nor any module of `also` may have been imported at its end."""
    script = "import sys\nimport cogdex\n" + textwrap.dedent(body)
    for module in ("pandas", *also):
        script += f"\nassert {module!r} not in sys.modules, '{module} was imported'\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return int(out.stdout.split()[0]) if out.stdout.strip() else None


def test_reading_pixels_from_a_loaded_index_never_imports_pandas(pixel_coll):
    _run_without_pandas(f"""
        coll = cogdex.load({str(pixel_coll.location)!r}).subset(cloud_cover_lt=100)
        coll.get_numpy({AOI}, ["B04", "B08"], return_table=True, merge="first")
        coll.get_time_series({AOI}, "B04")
        coll.sample_points(([78.0], [20.0]), ["B04"])
        import numpy as np, pyarrow as pa
        from cogdex.index import arrays as A
        xy = pa.table({{"x": A.from_numpy(np.array([78.0])), "y": A.from_numpy(np.array([20.0]))}})
        coll.sample_points(xy.to_reader(), ["B04"])  # an Arrow stream
    """)


def test_a_subset_that_a_row_group_meets_but_none_of_its_rows_never_imports_pandas(pixel_coll):
    """Dates between two acquisitions: the row group's statistics overlap them, its rows
    do not, so the bbox's antimeridian test sees columns of no chunks, which pyarrow's
    `combine_chunks` makes with `pa.array([])` (importing pandas)."""
    count = _run_without_pandas(f"""
        coll = cogdex.load({str(pixel_coll.location)!r})
        sub = coll.subset(bbox={AOI}, date_range=("2024-01-01T06:00", "2024-01-01T07:00"))
        print(len(sub.ids))
    """)
    assert count == 0


def test_building_from_static_stac_then_reading_never_imports_pandas(stac_files, tmp_path):
    script = f"""
        from cogdex.io import fetch
        with fetch.recording() as build:
            coll = cogdex.build_from_stac({str(stac_files.items_json)!r}, name="cold",
                                          bands=["B04", "B08", "stack:1"],
                                          cache_dir={str(tmp_path)!r})
        print(build.requests)
        sub = coll.subset(bbox={AOI}, date_range=("2024-01-01", "2024-12-31"))
        assert len(sub) and sub.get_numpy({AOI}, ["B04", "stack:1"]).size
        sub.band_source("B08").header(0)
    """
    assert _run_without_pandas(script) > 0  # the build fetched every header
    assert _run_without_pandas(script) == 0  # the same call again: a cache hit


def test_building_from_a_stac_api_never_imports_pandas(stac_api, tmp_path):
    _run_without_pandas(
        f"""
        coll = cogdex.build_from_stac({stac_api.url!r}, "sentinel-2-l2a", name="cold-api",
                                      bbox={AOI}, bands=["B04"], cache_dir={str(tmp_path)!r})
        assert len(coll)
        """,
        also=("pyarrow.compute",),  # the search is pystac-client's (pystac, requests)
    )


def test_reading_pixels_of_a_whole_loaded_index_skips_pyarrow_compute(pixel_coll):
    """Without filter conditions, loading and reading take rows by slices, not kernels."""
    _run_without_pandas(
        f"""
        coll = cogdex.load({str(pixel_coll.location)!r})
        assert coll.get_numpy({AOI}, ["B04", "B08"]).size
        assert len(coll.sample_points(([78.0], [20.0]), ["B04"]))
        """,
        also=("pyarrow.compute", "numpy.ma"),  # np.unique imports numpy.ma
    )
    assert len(pixel_coll.epsg_codes) == 2


def test_a_cache_hit_never_imports_the_build_machinery(stac_files, tmp_path):
    """A build call answered by the cache (a cold get-numpy's first call) loads the index
    without the modules of a build (header fetch, catalog datasets, the STAC API client)."""
    script = f"""
        coll = cogdex.build_from_stac({str(stac_files.items_json)!r}, name="hit",
                                      bands=["B04"], cache_dir={str(tmp_path)!r})
        assert coll.get_numpy({AOI}, "B04").size
    """
    _run_without_pandas(script)  # the build
    _run_without_pandas(script, also=("cogdex.index.build", "cogdex.index.stac_api"))
