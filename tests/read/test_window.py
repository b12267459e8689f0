"""One `Window` type, in rasterio's axis order, everywhere: a swapped axis would read the
wrong pixels silently, so a non-square, offset window is checked against rasterio's through
every path that builds or takes one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window as RioWindow
from rasterio.windows import transform as rio_window_transform

import cogdex
from cogdex.read.grid import Grid, aligned_window, clip_window
from cogdex.read.plan import clip
from cogdex.read.window import Window

HEIGHT, WIDTH = 20, 30  # not square: rows and columns cannot stand in for each other
OFFSET = dict(col_off=3, row_off=7, width=5, height=2)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> tuple[str, np.ndarray]:
    """A tiled GeoTIFF whose every pixel value is unique (row * 100 + col)."""
    path = str(tmp_path_factory.mktemp("window") / "unique.tif")
    data = (np.arange(HEIGHT)[:, None] * 100 + np.arange(WIDTH)[None, :]).astype(np.uint16)
    profile = dict(driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype="uint16",
                   crs="EPSG:32643", transform=from_origin(740000.0, 3110000.0, 10.0, 10.0),
                   tiled=True, blockxsize=16, blockysize=16)  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    return path, data


def test_fields_are_rasterio_order():
    assert Window(3, 7, 5, 2) == Window(**OFFSET)
    assert Window._fields == ("col_off", "row_off", "width", "height")
    rio = RioWindow(3, 7, 5, 2)
    assert (rio.col_off, rio.row_off, rio.width, rio.height) == Window(3, 7, 5, 2)


@pytest.mark.parametrize("given", [Window(**OFFSET), (3, 7, 5, 2)], ids=["Window", "tuple"])
def test_geotiff_read_takes_the_window_as_rasterio_does(image, given):
    path, data = image
    with rasterio.open(path) as ds:
        theirs = ds.read(window=RioWindow(3, 7, 5, 2))
    ours = cogdex.open(path).read(window=given)
    assert ours.shape == (1, 2, 5)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours[0], data[7:9, 3:8])


def test_grid_helpers_take_and_give_the_window_as_rasterio_does(image):
    path, _ = image
    with rasterio.open(path) as ds:
        grid = Grid(32643, tuple(ds.transform)[:6], (ds.height, ds.width))
        want = rio_window_transform(RioWindow(3, 7, 5, 2), ds.transform)
    sub = grid.window_grid(Window(**OFFSET))
    assert sub.shape == (2, 5)
    assert sub.transform == pytest.approx(tuple(want)[:6])
    assert aligned_window(grid, sub) == Window(**OFFSET)
    assert clip_window(Window(**OFFSET), grid.shape) == Window(**OFFSET)
    # hanging off the right and bottom edges: what is left is rasterio's intersection
    off = Window(27, 18, 5, 4)
    inter = RioWindow(27, 18, 5, 4).intersection(RioWindow(0, 0, WIDTH, HEIGHT))
    assert clip_window(off, grid.shape) == (inter.col_off, inter.row_off, inter.width, inter.height)
    assert clip(off, WIDTH, HEIGHT) == clip_window(off, grid.shape)


def test_a_grid_window_reads_the_pixels_of_its_grid(image):
    """The window `aligned_window` finds for a sub-grid reads that sub-grid's pixels."""
    path, data = image
    with rasterio.open(path) as ds:
        grid = Grid(32643, tuple(ds.transform)[:6], (ds.height, ds.width))
    a, b, c, d, e, f = grid.transform
    sub = Grid(32643, (a, b, c + 3 * a, d, e, f + 7 * e), (2, 5))  # 3 columns, 7 rows in
    window = aligned_window(grid, sub)
    assert window == Window(**OFFSET)
    np.testing.assert_array_equal(cogdex.open(path).read(window=window)[0], data[7:9, 3:8])


def test_reading_a_window_loads_no_geometry_or_arrow_stack(image):
    """The tile plan shares `cogdex.read.plan` with the geometry planning, yet a window read
    of one file stays light: shapely, pyarrow and pyproj (~0.1 s) load only where used."""
    path, _ = image
    script = (
        "import sys, cogdex\n"
        f"assert cogdex.open({path!r}).read(window=(3, 7, 5, 2)).shape == (1, 2, 5)\n"
        "print(sorted(m for m in ('shapely', 'pyarrow', 'pyproj') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]"]
