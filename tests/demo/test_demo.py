"""`cogdex demo` end to end: exit status, the steps it prints, cleanup (also on signals and
errors), its printed numbers against rasterio reads of the same files, the adapter steps
with their plugins and without, and the quick-look PNG."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

from cogdex.cli import main
from cogdex.demo import quicklook
from cogdex.demo.run import N_POINTS, run
from cogdex.errors import CogdexError
from cogdex.testing.scenes import aoi_bbox, random_points

# The TorchGeo step's DataLoader workers fork this process, which has threads (the server's).
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")

STEP = re.compile(r"^\[(\d)/\d\] (.+?)\s+(\d+\.\d\d) s\s+([\d,]+) requests\s+(\d+\.\d\d) MB  (.*)$")


def _demo(tmp: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m cogdex.cli demo ARGS` with its temporary files under `tmp`. SIGINT is
    given back its default first: a shell running the suite in the background ignores it,
    and a child would inherit that (Python then never raises KeyboardInterrupt)."""
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cogdex.cli", "demo", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _port_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def test_demo_command_runs_and_leaves_nothing_behind(tmp_path, tmp_path_factory):
    png = tmp_path_factory.mktemp("png") / "quick.png"
    proc = _demo(tmp_path, "--quiet", "--no-torchgeo", "--png", str(png))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    steps = [STEP.match(line) for line in lines]
    titles = [m.group(2) for m in steps if m]
    steps_run = ["write data", "serve", "build index", "subset", "NDVI series", "sample", "xarray",
                 "quick-look"]  # fmt: skip
    assert titles == steps_run  # the xarray adapter is installed in the test environment
    assert "[8/9] torchgeo     skipped (--no-torchgeo)" in lines
    requests = {m.group(2): int(m.group(4).replace(",", "")) for m in steps if m}
    assert requests["write data"] == requests["serve"] == requests["subset"] == 0
    assert requests["quick-look"] == 0
    assert f"{png} (656 x 320 px)" in out and png.is_file()
    assert requests["build index"] == 16  # one header request per COG: 8 scenes x 2 bands
    assert requests["NDVI series"] > 0
    # The points lie in the tiles the NDVI step decoded: the shared tile cache serves them.
    assert requests["sample"] <= requests["NDVI series"]
    assert not any(line.startswith("      ") for line in lines)  # --quiet: no details
    done = next(line for line in lines if line.startswith("done in"))
    client, server = re.search(r": ([\d,]+) requests, .* answered ([\d,]+) requests", done).groups()
    assert client == server == f"{sum(requests.values()):,}"
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone
    url = re.search(r"(http://127\.0\.0\.1:\d+)", out).group(1)
    assert _port_closed(url)


def test_demo_help_lists_the_steps():
    proc = subprocess.run([sys.executable, "-m", "cogdex.cli", "demo", "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0
    for words in ("write data", "serve", "build index", "subset", "NDVI series", "sample",
                  "xarray", "torchgeo", "quick-look", "--keep", "--scenes", "--size", "--quiet",
                  "--no-torchgeo", "--png"):  # fmt: skip
        assert words in proc.stdout


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """The demo's printed lines, run in this process with --keep (data left for checking)
    and every extra: all nine steps."""
    root = tmp_path_factory.mktemp("kept")
    out = io.StringIO()
    run(keep=root, png=root / "quick.png", out=out)
    return root, out.getvalue().splitlines()


def _details(lines: list[str], title: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if re.match(rf"\[\d/\d\] {title} ", line))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    return block


def _subset(root: Path, lines: list[str]) -> dict[str, list[Path]]:
    """Date -> the folders of the records the subset kept, in the printed order."""
    by_date: dict[str, list[Path]] = defaultdict(list)
    for line in _details(lines, "subset"):
        record, date = line.split()[:2]
        by_date[date].append(root / "scenes" / record)
    return by_date


def test_kept_data_and_index_stay(kept):
    root, lines = kept
    assert (root / "items.json").is_file()
    assert len(list(root.glob("scenes/*/B0[48].tif"))) == 16
    assert list(root.glob("index/**/*.parquet"))
    assert lines[-1].startswith(f"server stopped, kept {root}")


def test_printed_ndvi_series_equals_rasterio_on_the_printed_grid(kept):
    root, lines = kept
    details = _details(lines, "NDVI series")
    grid = re.search(r"grid EPSG:(\d+), (\d+) m, upper-left \((\d+), (\d+)\), (\d+) x (\d+) px",
                     "\n".join(details))  # fmt: skip
    epsg, res, x0, y0, width, height = (int(v) for v in grid.groups())
    transform = rasterio.Affine(res, 0, x0, 0, -res, y0)
    printed = [
        re.match(r"(\S+)  mean NDVI (\S+)  valid\s+(\S+) %  from (\d) record", line).groups()
        for line in details
        if "mean NDVI" in line
    ]
    by_date = _subset(root, lines)
    assert [p[0] for p in printed] == sorted(by_date)
    for date, ndvi, valid, n in printed:
        folders = by_date[date]
        assert int(n) == len(folders)
        bands = {}
        for band in ("B04", "B08"):
            merged = np.zeros((height, width), np.uint16)
            for folder in folders:  # the first valid pixel wins
                with rasterio.open(folder / f"{band}.tif") as ds:
                    warped = np.zeros_like(merged)
                    reproject(rasterio.band(ds, 1), warped, dst_crs=f"EPSG:{epsg}",
                              dst_transform=transform, dst_nodata=0,
                              resampling=Resampling.nearest)  # fmt: skip
                take = (merged == 0) & (warped != 0)
                merged[take] = warped[take]
            bands[band] = merged.astype(np.float64)
        ok = (bands["B04"] > 0) & (bands["B08"] > 0)
        expect = ((bands["B08"] - bands["B04"]) / (bands["B08"] + bands["B04"]))[ok].mean()
        # Printed to 3 decimals; both zones show the same ground, so merge order barely matters.
        assert float(ndvi) == pytest.approx(expect, abs=1e-3), date
        assert float(valid) == pytest.approx(100 * ok.mean(), abs=0.5), date


def test_printed_samples_equal_rasterio(kept):
    root, lines = kept
    summary = next(line for line in lines if re.match(r"\[6/\d\] sample", line))
    count = int(re.search(r"-> ([\d,]+) values", summary).group(1).replace(",", ""))
    lon, lat = random_points(N_POINTS, 1024)
    expect = 0
    at_point0: dict[str, tuple[int, int, int, int]] = {}
    for folders in _subset(root, lines).values():
        for folder in folders:
            with rasterio.open(folder / "B04.tif") as red, rasterio.open(folder / "B08.tif") as nir:
                to_file = Transformer.from_crs(4326, red.crs, always_xy=True)
                x, y = to_file.transform(lon, lat)
                rows, cols = rasterio.transform.rowcol(red.transform, x, y)
                rows, cols = np.asarray(rows), np.asarray(cols)
                inside = (rows >= 0) & (rows < red.height) & (cols >= 0) & (cols < red.width)
                expect += 2 * int(inside.sum())
                b04 = next(red.sample([(x[0], y[0])]))[0]
                b08 = next(nir.sample([(x[0], y[0])]))[0]
                at_point0[folder.name] = (int(b04), int(b08), int(rows[0]), int(cols[0]))
    assert count == expect
    point0 = [line for line in _details(lines, "sample") if re.match(r"\d{4}-\d\d-\d\d  S2", line)]
    assert len(point0) == len(at_point0)
    for line in point0:
        _, record, _, b04, _, b08, _, row, col = line.replace("(", " ").replace(",", " ").replace(
            ")", " ").split()  # fmt: skip
        assert at_point0[record] == (int(b04), int(b08), int(row), int(col))


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_demo_cleans_up_when_interrupted(tmp_path, signum, status):
    proc = _demo(tmp_path)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("cogdex-demo-*/scenes/*")):  # inside step 1
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    assert proc.returncode == status
    assert list(tmp_path.iterdir()) == []


class _ClosedAfterServe(io.StringIO):
    """Output that breaks (like `cogdex demo | head`) once the server is up."""

    def write(self, text: str) -> int:
        if self.getvalue().count("\n[") >= 2 and text.strip():
            raise BrokenPipeError("the reader went away")
        return super().write(text)


def test_demo_cleans_up_after_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = _ClosedAfterServe()
    with pytest.raises(BrokenPipeError):
        run(out=out)
    url = re.search(r"\[2/\d\] serve .*(http://127\.0\.0\.1:\d+)", out.getvalue()).group(1)
    assert _port_closed(url)
    assert list(tmp_path.iterdir()) == []


def test_cli_main_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--size", "10"])
    assert "between 64 and 8192" in capsys.readouterr().err


def _summary(lines: list[str], title: str) -> str:
    return next(line for line in lines if re.match(rf"\[\d/9\] {title} ", line))


def test_the_torchgeo_step_batches_the_aoi_with_two_workers(kept):
    _, lines = kept
    summary = _summary(lines, "torchgeo")
    # The AOI is 209 x 210 px: a grid of 4 x 4 chips of 64 px covers it, in batches of 4.
    assert "DataLoader, 2 workers: 4 batches of 16 chips over the AOI" in summary
    assert summary.endswith("first batch: image (4, 2, 64, 64) torch.float32")
    requests = int(STEP.match(summary).group(4))
    assert requests > 0  # the workers' reads, which the server counted
    # Each worker reads one contiguous run of the batches, so a tile is fetched by one
    # worker unless both runs cross it: at most one tile row per file twice (36 requests
    # against the one-plan numpy read's 24 of the same area; grid order, which hands every
    # other row of chips to each worker, made both workers fetch every tile: 48).
    ndvi = int(STEP.match(_summary(lines, "NDVI series")).group(4))
    assert requests <= ndvi * 3 // 2
    assert "no header request" in "\n".join(_details(lines, "torchgeo"))


def test_the_xarray_step_gives_the_ndvi_of_the_numpy_step(kept):
    _, lines = kept
    details = _details(lines, "xarray")
    low, high = (float(v) for v in re.search(r"range \[(\S+), (\S+)\]", details[1]).groups())
    assert -1 <= low < high <= 1
    means = details[2].removeprefix("mean NDVI per date: ").split(", ")
    numpy_means = [re.search(r"mean NDVI (\S+)", line).group(1)
                   for line in _details(lines, "NDVI series") if "mean NDVI" in line]  # fmt: skip
    assert means == numpy_means  # the same grid and merge, from the plugin


def test_the_quicklook_png_shows_the_footprints_and_the_aoi(kept):
    root, lines = kept
    png = root / "quick.png"
    assert f"{png} ({quicklook.WIDTH} x {quicklook.PANEL} px)" in _summary(lines, "quick-look")
    image = imagecodecs.png_decode(png.read_bytes())
    assert image.shape == (320, 656, 3) and image.dtype == np.uint8
    extent = re.search(r"lon (\S+)\.\.(\S+), lat (\S+)\.\.(\S+)", _details(lines, "quick-look")[0])
    west, east, south, north = (float(v) for v in extent.groups())
    # Pixel centres of the left panel in lon/lat, from the printed extent.
    i = np.arange(320) + 0.5
    lon, lat = np.meshgrid(west + i * (east - west) / 320, north - i * (north - south) / 320)
    pixel = max(east - west, north - south) / 320
    features = json.loads((root / "items.json").read_text())["features"]
    scenes = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in features])
    left = image[:, :320]
    white = (left == 255).all(axis=-1)
    inside = shapely.contains_xy(scenes.buffer(-3 * pixel), lon, lat)
    outside = ~shapely.contains_xy(scenes.buffer(3 * pixel), lon, lat)
    assert inside.mean() > 0.3 and outside.mean() > 0.1
    assert not white[inside].any()  # every scene is drawn where it lies ...
    assert white[outside].all()  # ... and nothing where none does
    aoi = shapely.box(*aoi_bbox(1024))
    red = (left == quicklook.RED).all(axis=-1)
    near_edge = shapely.dwithin(aoi.boundary, shapely.points(lon, lat), 2 * pixel)
    assert red[near_edge].mean() > 0.3 and not red[~near_edge].any()  # the AOI's outline,
    drawn = (lon[red].min(), lat[red].min(), lon[red].max(), lat[red].max())
    assert drawn == pytest.approx(aoi.bounds, abs=2 * pixel)  # on all four sides
    chip = image[:, 320 + quicklook.GAP :]
    assert not (chip == 255).all(axis=-1)[5:-5, 5:-5].any()  # the NDVI fills the panel
    r, g, b = chip.reshape(-1, 3).mean(axis=0)
    assert g > r > b  # greenish: the scenes' mean NDVI is about 0.4


def test_keep_never_writes_over_a_users_folder(tmp_path, kept):
    """--keep takes a new, empty or earlier demo folder; a folder of the user's is refused
    before anything is written (the demo writes items.json, scenes/, index/ there)."""
    (tmp_path / "items.json").write_text("mine")
    with pytest.raises(CogdexError, match="not empty"):
        run(keep=tmp_path, out=io.StringIO(), scenes=1, size=64)
    assert [p.name for p in tmp_path.iterdir()] == ["items.json"]
    assert (tmp_path / "items.json").read_text() == "mine"
    root, _ = kept
    assert (root / ".cogdex-demo").is_file()  # a demo folder: a second run may reuse it


def test_without_the_adapter_plugins_the_demo_names_their_extras(tmp_path):
    """The demo with the xarray and TorchGeo plugins' entry points unloaded (as if not
    installed): both steps are skipped with the pip command that installs them, the rest
    runs."""
    hide = (
        "import sys\n"
        "from cogdex import plugins\n"
        "from cogdex.cli import main\n"
        "for name in ('xarray', 'torchgeo'):\n"
        "    plugins.unregister(plugins.plugin_manager().get_plugin(name))\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    png = tmp_path / "quick.png"
    args = ["demo", "--quiet", "--scenes", "2", "--size", "256", "--png", str(png)]
    proc = subprocess.run([sys.executable, "-c", hide, *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert '[7/9] xarray       skipped (pip install "cogdex[xarray]")' in lines
    assert '[8/9] torchgeo     skipped (pip install "cogdex[torchgeo]")' in lines
    titles = [m.group(2) for m in map(STEP.match, lines) if m]
    assert titles == ["write data", "serve", "build index", "subset", "NDVI series", "sample",
                      "quick-look"]  # fmt: skip
    assert imagecodecs.png_decode(png.read_bytes()).shape == (320, 656, 3)
