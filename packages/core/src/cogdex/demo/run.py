"""The steps of `cogdex demo` (listed in `cogdex.demo.HELP`): the whole pipeline on this
machine, no network, no GDAL.

Each step prints its wall time and the HTTP requests and bytes it made, counted by
`cogdex.io.fetch.recording`; numbers are computed from what was read, never fixed. The
temporary folder is removed and the server stopped at the end, on errors and on Ctrl-C
(or SIGTERM) too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cogdex.errors import CogdexError

if TYPE_CHECKING:
    from cogdex.collection import Collection

N_POINTS = 1000


@dataclass
class _Step:
    title: str
    summary: str = ""
    details: list[str] = field(default_factory=list)


class _Report:
    """Times each step, counts its requests, and prints it when it ends."""

    def __init__(self, out: TextIO, quiet: bool, steps: int):
        self.out = out
        self.quiet = quiet
        self.steps = steps
        self.done = 0
        self.requests = 0
        self.bytes = 0

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[_Step]:
        from cogdex.io import fetch

        step = _Step(title)
        start = time.perf_counter()
        with fetch.recording() as counted:
            yield step
        seconds = time.perf_counter() - start
        self.done += 1
        self.requests += counted.requests
        self.bytes += counted.bytes
        self.line(
            f"[{self.done}/{self.steps}] {title:<12} {seconds:6.2f} s "
            f"{counted.requests:5,d} requests {counted.bytes / 1e6:7.2f} MB  {step.summary}"
        )
        if not self.quiet:
            for text in step.details:
                self.line(f"      {text}")


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _kb(nbytes: float) -> str:
    return f"{nbytes / 1e3:.1f} kB"


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanup below


def run(
    *,
    scenes: int = 8,
    size: int = 1024,
    keep: str | Path | None = None,
    quiet: bool = False,
    torchgeo: bool = False,
    out: TextIO | None = None,
) -> None:
    """Run the demo, printing to `out` (default stdout). With `keep`, the data is written
    there and kept; otherwise in a temporary folder removed at the end, whatever happens."""
    root = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="cogdex-demo-"))
    if keep is not None:
        _claim(root)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm) if main else None
    adapters = _adapters(torchgeo)
    report = _Report(out or sys.stdout, quiet, 6 + len(adapters))
    try:
        _steps(report, root, scenes, size, adapters)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if keep is None:
        report.line("server stopped, temporary data removed")
    else:
        report.line(f"server stopped, kept {root}: items.json, scenes/, index/ (the hrefs in "
                    "them name the stopped server)")  # fmt: skip


_MARK = ".cogdex-demo"


def _claim(root: Path) -> None:
    """Make `root` the demo's folder: new, empty, or one an earlier demo marked. The demo
    writes items.json, scenes/ and index/ there, which must never replace a user's files."""
    foreign = root.exists() and not (root / _MARK).is_file()
    if foreign and (not root.is_dir() or any(root.iterdir())):
        raise CogdexError(
            f"--keep {root}: the folder is not empty (the demo writes items.json, scenes/ "
            f"and index/ there): give a new or empty folder"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / _MARK).write_text("written by `cogdex demo`; it may write here again\n")
    except OSError as exc:
        raise CogdexError(f"--keep {root}: {exc.strerror or exc}") from exc


def _steps(report: _Report, root: Path, n_scenes: int, size: int, adapters: list[str]) -> None:
    started = time.perf_counter()
    # First-use costs (imports, plugin entry points) are paid here, not inside a step.
    import cogdex.builds
    import cogdex.pixels
    from cogdex.testing import scenes as data
    from cogdex.testing.range_server import RangeServer
    from cogdex.tiff.header import parse_header

    report.line(
        "cogdex demo: index-first reads of synthetic Sentinel-2-like COGs from a local HTTP "
        f"server, no network, no GDAL (imports and plugins: {time.perf_counter() - started:.2f} s)"
    )
    with report.step("write data") as step:
        scenes = data.write_scenes(root, n_scenes, size)
        files = [p for s in scenes for p in s.files.values()]
        total = sum(p.stat().st_size for p in files)
        zones = sorted({s.epsg for s in scenes})
        step.summary = (
            f"{_n(len(files), 'COG')}: {_n(len(scenes), 'scene')} x {', '.join(scenes[0].files)}"
            f", {size} px at {data.RES:g} m, {' + '.join(f'EPSG:{z}' for z in zones)}, "
            f"{_mb(total)}"
        )
        header = parse_header(files[0].read_bytes())
        base = header.base
        overviews = ", ".join(f"{lv.width} px" for lv in header.levels[1:]) or "none"
        step.details = [
            f"written by cogdex.testing.write_cog: {base.dtype}, nodata {header.nodata:g}, "
            f"{base.compression_name} + predictor {base.predictor}, {base.tile_width} px tiles, "
            f"overviews: {overviews}",
            f"in {root}",
        ]

    server = RangeServer(root)
    with contextlib.closing(server):  # stopped whatever happens, even before it started
        with report.step("serve") as step:
            server.start()
            step.summary = f"{server.url} (HTTP Range requests, keep-alive)"
            step.details = ["hrefs in the STAC items point here, as at an object store"]
        with report.step("build index") as step:
            items = data.write_item_collection(scenes, root, server.url)
            coll = cogdex.build_from_stac(
                items, name="demo", bands=["B04", "B08"], cache_dir=root / "index",
                force=True, progress=False,
            )  # fmt: skip
            step.summary = (
                f"{_n(len(coll), 'record')}, bands {', '.join(coll.bands)}, "
                f"CRS {', '.join(coll.crs)}"
            )
            step.details = [
                f"cogdex.build_from_stac({items.name!r}, bands=['B04', 'B08']): a static STAC "
                "ItemCollection; one header request per COG",
                f"index: {coll.location} ({_kb(Path(str(coll.location)).stat().st_size)})",
            ]

        with report.step("subset") as step:
            first = data.START.date()
            last = first + dt.timedelta(days=30)
            bbox = data.aoi_bbox(size)
            sub = coll.subset(date_range=(str(first), str(last)), cloud_cover_lt=50, bbox=bbox)
            step.summary = (
                f"{len(sub)} of {_n(len(coll), 'record')}: {first}..{last}, cloud cover < 50 %, "
                f"bbox {', '.join(f'{v:.3f}' for v in bbox)}"
            )
            step.details = _records(sub.to_arrow())

        with report.step("NDVI series") as step:
            step.summary, step.details = _ndvi(sub, bbox)

        with report.step("sample") as step:
            step.summary, step.details = _sample(sub, size)

        if "xarray" in adapters:
            with report.step("xarray") as step:
                step.summary, step.details = _xarray(sub, bbox)
        if "torchgeo" in adapters:
            with report.step("torchgeo") as step:
                step.summary, step.details = _torchgeo(sub)

        served = (len(server.requests), server.bytes_sent)
    from cogdex import plugins

    if plugins.adapter("xarray") is None:
        report.line('skipped: the xarray step (pip install "cogdex[xarray]")')
    if "torchgeo" not in adapters:
        installed = plugins.adapter("torchgeo") is not None
        how = "--torchgeo shows it" if installed else 'pip install "cogdex[torchgeo]"'
        report.line(f"skipped: the TorchGeo step ({how})")
    report.line(
        f"done in {time.perf_counter() - started:.2f} s: {report.requests:,} requests, "
        f"{_mb(report.bytes)} read (the COGs hold {_mb(total)}); the server answered "
        f"{served[0]:,} requests, {_mb(served[1])}"
    )


def _records(table: pa.Table) -> list[str]:
    rows = table.select(["id", "datetime", "cloud_cover", "crs"]).to_pylist()
    return [
        f"{r['id']}  {r['datetime']:%Y-%m-%d}  cloud {r['cloud_cover']:5.1f} %  {r['crs']}"
        for r in sorted(rows, key=lambda r: (r["datetime"], r["id"]))
    ]


def _ndvi(sub: Collection, bbox: tuple[float, float, float, float]) -> tuple[str, list[str]]:
    """One merged image per date over `bbox`, and the mean NDVI of its valid pixels."""
    data, valid, table = sub.get_numpy(
        bbox, ["B04", "B08"], merge="first", return_mask=True, return_table=True
    )
    red, nir = data[:, 0].astype(np.float64), data[:, 1].astype(np.float64)
    ok = valid[:, 0] & valid[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = np.where(ok, (nir - red) / (nir + red), np.nan)
    t, c, h, w = data.shape
    a, _, x0, _, _, y0 = table.column("transform")[0].as_py()
    crs = table.column("crs")[0].as_py()
    crs = f"EPSG:{crs}" if crs.isdigit() else crs
    summary = (
        f"[T, C, H, W] = [{t}, {c}, {h}, {w}] {data.dtype}, one image per date ({_mb(data.nbytes)})"
    )
    details = [
        "get_numpy(bbox, ['B04', 'B08'], merge='first', return_mask=True, return_table=True)",
        f"grid {crs}, {a:g} m, upper-left ({x0:.0f}, {y0:.0f}), {w} x {h} px"
        + (": records of the other zone are warped onto it" if len(sub.crs) > 1 else ""),
    ]
    for k, when in enumerate(table.column("datetime").to_pylist()):
        mean = float(np.nanmean(ndvi[k])) if ok[k].any() else float("nan")
        details.append(
            f"{when:%Y-%m-%d}  mean NDVI {mean:.3f}  valid {100 * ok[k].mean():5.1f} %  "
            f"from {_n(len(table.column('ids')[k]), 'record')}"
        )
    return summary, details


def _sample(sub: Collection, size: int) -> tuple[str, list[str]]:
    from cogdex.testing.scenes import random_points

    lon, lat = random_points(N_POINTS, size)
    found = sub.sample_points(pa.table({"x": lon, "y": lat}), ["B04", "B08"])
    records = len(set(found.column("id").to_pylist()))
    summary = (
        f"{N_POINTS:,} points x 2 bands -> {len(found):,} values from {_n(records, 'record')} "
        "(every record whose file covers a point)"
    )
    first = found.filter(pc.equal(found.column("point_id"), 0)).to_pylist()
    details = [
        "sample_points(points, ['B04', 'B08']) -> a pyarrow Table, one row per point, band "
        "and record",
        f"point 0 at ({lon[0]:.5f}E, {lat[0]:.5f}N), in each record:",
    ]
    by_record: dict[str, dict[str, object]] = {}
    for r in first:
        by_record.setdefault(r["id"], {"datetime": r["datetime"]})[r["band"]] = r["value"]
        by_record[r["id"]]["pixel"] = (r["row"], r["col"])
    for rid, v in sorted(by_record.items(), key=lambda kv: (kv[1]["datetime"], kv[0])):
        details.append(
            f"{v['datetime']:%Y-%m-%d}  {rid}  B04 {v.get('B04'):>5}  B08 {v.get('B08'):>5}  "
            f"pixel {v['pixel']}"
        )
    return summary, details


def _xarray(sub: Collection, bbox: tuple[float, float, float, float]) -> tuple[str, list[str]]:
    """The same AOI as an xarray Dataset (the adapter plugin; no xarray import here)."""
    ds = sub.get_xarray(bbox, ["B04", "B08"], merge="first")
    dims = ", ".join(f"{k}: {v}" for k, v in ds.sizes.items())
    ndvi = (ds["B08"].astype("float64") - ds["B04"]) / (ds["B08"].astype("float64") + ds["B04"])
    means = ndvi.mean(dim=("y", "x")).values
    summary = f"xarray.Dataset ({dims}), variables {', '.join(str(v) for v in ds.data_vars)}"
    details = [
        "get_xarray(bbox, ['B04', 'B08'], merge='first'): one variable per band, a CF "
        "'spatial_ref' grid mapping that rioxarray reads",
        f"mean NDVI per date: {', '.join(f'{v:.3f}' for v in means)}",
    ]
    return summary, details


def _torchgeo(sub: Collection) -> tuple[str, list[str]]:
    """A TorchGeo GeoDataset over the records and one chip read from it (duck-typed: the
    adapter plugin owns torch)."""
    dataset = sub.to_torchgeo_dataset(["B04", "B08"])
    minx, maxx, miny, maxy = dataset.bounds[0].start, dataset.bounds[0].stop, *(
        (dataset.bounds[1].start, dataset.bounds[1].stop)
    )  # fmt: skip
    res_x, res_y = dataset.res
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half = 32
    chip = slice(cx - half * res_x, cx + half * res_x), slice(cy - half * res_y, cy + half * res_y)
    sample = dataset[chip]
    image = sample["image"]
    summary = (
        f"{type(dataset).__name__}: {len(dataset)} records in {dataset.crs}, res {res_x:g} m; "
        f"a 64 x 64 chip -> image {tuple(image.shape)} {image.dtype}"
    )
    details = [
        "to_torchgeo_dataset(['B04', 'B08']): a GeoDataset for TorchGeo's samplers and "
        "DataLoader (fork- and spawn-safe; no header requests in workers)",
        f"sample keys: {', '.join(sorted(sample))}",
    ]
    return summary, details


def _adapters(torchgeo: bool) -> list[str]:
    """The adapter steps to run: xarray when installed, TorchGeo when asked for (importing
    PyTorch takes seconds) and installed."""
    from cogdex import plugins

    wanted = ["xarray", "torchgeo"] if torchgeo else ["xarray"]
    return [name for name in wanted if plugins.adapter(name) is not None]


__all__ = [
    "N_POINTS",
    "run",
]
