"""`cogdex demo` end to end: exit status, the steps it prints, cleanup (also on signals and
errors), and its printed numbers against rasterio reads of the same files."""

from __future__ import annotations

import io
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

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

from cogdex.cli import main
from cogdex.demo.run import N_POINTS, run
from cogdex.errors import CogdexError
from cogdex.testing.scenes import random_points

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


def test_demo_command_runs_and_leaves_nothing_behind(tmp_path):
    proc = _demo(tmp_path, "--quiet")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    steps = [STEP.match(line) for line in lines]
    titles = [m.group(2) for m in steps if m]
    steps_run = ["write data", "serve", "build index", "subset", "NDVI series", "sample", "xarray"]
    assert titles == steps_run  # the xarray adapter is installed in the test environment
    requests = {m.group(2): int(m.group(4).replace(",", "")) for m in steps if m}
    assert requests["write data"] == requests["serve"] == requests["subset"] == 0
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
                  "--keep", "--scenes", "--size", "--quiet"):  # fmt: skip
        assert words in proc.stdout


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """The demo's printed lines, run in this process with --keep (data left for checking)."""
    root = tmp_path_factory.mktemp("kept")
    out = io.StringIO()
    run(keep=root, out=out)
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


def test_the_torchgeo_step_reads_a_chip_through_the_adapter(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = io.StringIO()
    run(scenes=2, size=256, quiet=True, torchgeo=True, out=out)
    line = next(x for x in out.getvalue().splitlines() if re.match(r"\[8/8\] torchgeo ", x))
    assert "image (2, 64, 64) torch.float32" in line


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
