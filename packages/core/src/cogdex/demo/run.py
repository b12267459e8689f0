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

from cogdex.errors import CogdexError, MissingPluginError

if TYPE_CHECKING:
    from cogdex.collection import Collection
    from cogdex.testing.range_server import RangeServer

N_POINTS = 1000
STEPS = 9
CHIP = 64  # px, the TorchGeo chips
BATCH = 4  # chips per TorchGeo batch
WORKERS = 2  # DataLoader worker processes


@dataclass
class _Step:
    title: str
    summary: str = ""
    details: list[str] = field(default_factory=list)
    # Requests and bytes of other processes (DataLoader workers), as the server counted them:
    # this process's counter never sees them.
    elsewhere: tuple[int, int] = (0, 0)


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
    def step(self, title: str, *, optional: bool = False) -> Iterator[_Step]:
        """Time and count the block; an `optional` step whose plugin is not installed is
        printed as skipped, with the extra to install, and the demo goes on."""
        from cogdex.io import fetch

        step = _Step(title)
        start = time.perf_counter()
        try:
            with fetch.recording() as counted:
                yield step
        except MissingPluginError as exc:
            if not optional or exc.extra is None:
                raise
            self.skip(title, f'pip install "cogdex[{exc.extra}]"')
            return
        seconds = time.perf_counter() - start
        self.done += 1
        requests = counted.requests + step.elsewhere[0]
        nbytes = counted.bytes + step.elsewhere[1]
        self.requests += requests
        self.bytes += nbytes
        self.line(
            f"[{self.done}/{self.steps}] {title:<12} {seconds:6.2f} s "
            f"{requests:5,d} requests {nbytes / 1e6:7.2f} MB  {step.summary}"
        )
        if not self.quiet:
            for text in step.details:
                self.line(f"      {text}")

    def skip(self, title: str, why: str) -> None:
        self.done += 1
        self.line(f"[{self.done}/{self.steps}] {title:<12} skipped ({why})")


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def _n(count: int, noun: str) -> str:
    plural = "es" if noun.endswith(("s", "ch", "x")) else "s"
    return f"{count:,} {noun}{'' if count == 1 else plural}"


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
    torchgeo: bool = True,
    png: str | Path = "cogdex-demo.png",
    out: TextIO | None = None,
) -> None:
    """Run the demo, printing to `out` (default stdout), and write the quick-look PNG to
    `png` (replaced if there). With `keep`, the data is written there and kept; otherwise
    in a temporary folder removed at the end, whatever happens. `torchgeo=False` skips the
    TorchGeo step (importing PyTorch and TorchGeo takes seconds)."""
    root = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="cogdex-demo-"))
    if keep is not None:
        _claim(root)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm) if main else None
    report = _Report(out or sys.stdout, quiet, STEPS)
    try:
        _steps(report, root, scenes, size, torchgeo, Path(png))
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


def _steps(
    report: _Report, root: Path, n_scenes: int, size: int, torchgeo: bool, png: Path
) -> None:
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
            step.summary, step.details, ndvi = _ndvi(sub, bbox)

        with report.step("sample") as step:
            step.summary, step.details = _sample(sub, size)

        with report.step("xarray", optional=True) as step:
            step.summary, step.details = _xarray(sub, bbox)
        if torchgeo:
            with report.step("torchgeo", optional=True) as step:
                step.summary, step.details, step.elsewhere = _torchgeo(sub, bbox, server)
        else:
            report.skip("torchgeo", "--no-torchgeo")

        with report.step("quick-look") as step:
            step.summary, step.details = _quicklook(coll, bbox, ndvi, png)

        served = (len(server.requests), server.bytes_sent)
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


def _ndvi(
    sub: Collection, bbox: tuple[float, float, float, float]
) -> tuple[str, list[str], np.ndarray]:
    """One merged image per date over `bbox`, and the mean NDVI of its valid pixels; the
    NDVI of the first date (NaN where invalid) for the quick-look."""
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
    return summary, details, ndvi[0]


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
    """The same AOI as an xarray Dataset and its NDVI per date (the adapter plugin: no xarray
    import here)."""
    ds = sub.get_xarray(bbox, ["B04", "B08"], merge="first")
    dims = ", ".join(f"{k}: {v}" for k, v in ds.sizes.items())
    red, nir = ds["B04"].astype("float64"), ds["B08"].astype("float64")
    ndvi = ((nir - red) / (nir + red)).where((red > 0) & (nir > 0))
    means = ndvi.mean(dim=("y", "x")).values
    summary = f"xarray.Dataset ({dims}), variables {', '.join(str(v) for v in ds.data_vars)}"
    details = [
        "get_xarray(bbox, ['B04', 'B08'], merge='first'): one variable per band, a CF "
        "'spatial_ref' grid mapping that rioxarray reads",
        "ndvi = ((B08 - B04) / (B08 + B04)).where((B04 > 0) & (B08 > 0)): "
        f"range [{float(ndvi.min()):.3f}, {float(ndvi.max()):.3f}]",
        f"mean NDVI per date: {', '.join(f'{v:.3f}' for v in means)}",
    ]
    return summary, details


def _torchgeo(
    sub: Collection, bbox: tuple[float, float, float, float], server: RangeServer
) -> tuple[str, list[str], tuple[int, int]]:
    """A DataLoader (the adapter plugin; it owns torch) with worker processes over the
    AOI's chips, one epoch; and the requests the workers made, as the server counted them
    (with workers, this process reads no chip, and making the dataset fetches no header)."""
    before = len(server.requests), server.bytes_sent
    start = time.perf_counter()
    loader = sub.to(
        "torchgeo_loader", ["B04", "B08"], size=CHIP, batch_size=BATCH, num_workers=WORKERS,
        bbox=bbox,
    )  # fmt: skip
    made = time.perf_counter()
    batches = list(loader)  # a whole epoch: what the workers read does not depend on timing
    epoch = time.perf_counter() - made
    elsewhere = len(server.requests) - before[0], server.bytes_sent - before[1]
    image = batches[0]["image"]
    chips = sum(len(b["image"]) for b in batches)
    dataset = loader.dataset
    summary = (
        f"DataLoader, {WORKERS} workers: {_n(len(batches), 'batch')} of {_n(chips, 'chip')} "
        f"over the AOI; first batch: image {tuple(image.shape)} {image.dtype}"
    )
    details = [
        f"to('torchgeo_loader', ['B04', 'B08'], size={CHIP}, batch_size={BATCH}, "
        f"num_workers={WORKERS}, bbox=aoi): a {type(dataset).__name__} of "
        f"{_n(len(dataset), 'record')} in {dataset.crs}, GriddedPatchSampler chips, stack_samples",
        f"first batch keys: {', '.join(sorted(batches[0]))}; mean per band: "
        + ", ".join(f"{b} {float(image[:, i].mean()):.1f}" for i, b in enumerate(["B04", "B08"])),
        f"the workers read the tiles with their own stores (no header request): {elsewhere[0]:,} "
        "requests, counted by the server",
        f"importing PyTorch and TorchGeo and making the loader {made - start:.2f} s, the epoch "
        f"{epoch:.2f} s (starting the workers included)",
    ]
    return summary, details, elsewhere


def _quicklook(
    coll: Collection, bbox: tuple[float, float, float, float], ndvi: np.ndarray, png: Path
) -> tuple[str, list[str]]:
    """The footprints of every record over the AOI, and the first date's NDVI, as a PNG."""
    import shapely

    from cogdex.demo import quicklook as q

    table = coll.to_arrow()
    footprints = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    data, extent = q.quicklook(
        list(footprints), table.column("crs").to_pylist(), shapely.box(*bbox), ndvi
    )
    png.write_bytes(data)
    summary = f"{png.resolve()} ({q.WIDTH} x {q.PANEL} px): open it to see the AOI and a chip"
    east = extent.west + q.PANEL * extent.step / extent.coslat
    south = extent.north - q.PANEL * extent.step
    details = [
        f"left: {_n(len(table), 'scene footprint')} (a tint per CRS, darker where scenes "
        f"overlap) and the AOI in red; lon {extent.west:.4f}..{east:.4f}, "
        f"lat {south:.4f}..{extent.north:.4f}",
        f"right: NDVI of the first date over the AOI ({ndvi.shape[1]} x {ndvi.shape[0]} px, "
        "brown 0, green 0.8, grey no data)",
    ]
    return summary, details


__all__ = [
    "N_POINTS",
    "run",
]
