"""TorchGeo cold start: rasteret's three published cases on the lab's scenes, and what every
candidate shares (the scenes a case selects, the sampler, the phases timed, the traffic, the
first batch saved for the runner's comparison).

rasteret measured (docs/explanation/benchmark.md of rasteret, us-west-2, Sentinel-2 on S3):
one AOI over 15 scenes, batch of 2; five AOIs over 30 scenes, batch of 4; a cross-CRS AOI
over 12 scenes in two UTM zones onto EPSG:32643, batch of 2. One band, `time_series=True`,
256 px chips, `num_workers=0`, the first batch. Here the scenes are the lab's
(`make_scenes.py --n 60 --size 2048`: tiles 43QHV and 44QKE alternate, every 5 days): the
single-zone cases search boxes only tile 43QHV covers, the cross-CRS case the overlap.

Chips come from TorchGeo 0.10's `RandomPatchSampler` with a fixed seed (rasteret used
`RandomGeoSampler`, deprecated in 0.10: its time slice is one index row's interval, which
for records dated by an instant selects one step instead of the series). Its chips are on
the dataset's pixel lattice, so datasets with the same index draw the same chips.

Stdlib + numpy at import: the candidates run in three virtual environments. torch, shapely
and pyproj are imported where used (every candidate imports them anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import T0, report

Bbox = tuple[float, float, float, float]

BAND = "B04"
CHIP = 256
RES = 10.0
SEED = 0
WORKER_TIMEOUT_S = 60
"""A worker batch later than this fails the measure (a worker that hangs)."""


@dataclass(frozen=True)
class Case:
    aois: tuple[Bbox, ...]
    """lon/lat boxes; their covering box is the search box."""
    dates: tuple[str, str]
    crs: int | None
    """The dataset CRS (None: the first record's, as rasteret's single-zone cases)."""
    batch: int
    scenes: int
    """How many records the search must select (every candidate checks it)."""
    roi: bool
    """Sample inside the AOIs (rasteret: only the cross-CRS case, in the zones' overlap)."""

    def search_box(self) -> Bbox:
        xs0, ys0, xs1, ys1 = zip(*self.aois, strict=True)
        return (min(xs0), min(ys0), max(xs1), max(ys1))


CASES = {
    # Tile 43QHV alone covers lon 77.865-77.939 (44QKE starts east of it): 15 of its scenes.
    "1aoi": Case(
        aois=((77.90, 19.97, 77.91, 19.98),),
        dates=("2024-01-01", "2024-03-12"),
        crs=None,
        batch=2,
        scenes=15,
        roi=False,
    ),
    "5aoi": Case(
        aois=(
            (77.875, 19.92, 77.885, 19.93),
            (77.915, 19.93, 77.925, 19.94),
            (77.890, 19.96, 77.900, 19.97),
            (77.920, 19.99, 77.930, 20.00),
            (77.895, 20.01, 77.905, 20.02),
        ),
        dates=("2024-01-01", "2024-06-01"),
        crs=None,
        batch=4,
        scenes=30,
        roi=False,
    ),
    # Both tiles cover (78.0E, 20.0N): 6 scenes of each zone, warped onto UTM 43N.
    "crosscrs": Case(
        aois=((77.975, 19.98, 78.025, 20.02),),
        dates=("2024-01-01", "2024-01-27"),
        crs=32643,
        batch=2,
        scenes=12,
        roi=True,
    ),
}


def parse() -> tuple[str, Case, argparse.Namespace]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=sorted(CASES), required=True)
    ap.add_argument("--fresh", action="store_true", help="first run: build the index first")
    ap.add_argument("--steady", type=int, default=0, help="then 2 epochs of N chips, 0/2 workers")
    a = ap.parse_args()
    return a.case, CASES[a.case], a


def import_torchgeo() -> None:
    """What the user's loop imports whatever the dataset: torch's DataLoader, TorchGeo's
    samplers and collation (before a candidate's timed phases, so they time the same work)."""
    import torch.utils.data  # noqa: F401
    import torchgeo.datasets
    import torchgeo.samplers  # noqa: F401


def scene_urls(case: Case) -> list[str]:
    """The B04 URLs of the items a STAC search for the case returns (footprint meets the
    box, time in the range): what a RasterDataset user lists from the same search."""
    import shapely

    box = shapely.box(*case.search_box())
    start, end = (np.datetime64(d) for d in case.dates)
    items = json.loads((Path(os.environ["LAB_DATA"]) / "items.json").read_text())["features"]
    urls = [
        it["assets"]["red"]["href"]
        for it in items
        if start <= np.datetime64(it["properties"]["datetime"][:19]) <= end
        and shapely.geometry.shape(it["geometry"]).intersects(box)
    ]
    if len(urls) != case.scenes:
        raise SystemExit(f"the search selects {len(urls)} scenes, the case wants {case.scenes}")
    return urls


def scene_of(url: str) -> str:
    return url.rstrip("/").split("/")[-2]


def roi(case: Case, crs: Any):
    """The AOIs as one shape in the dataset CRS, or None where the case samples everywhere."""
    if not case.roi:
        return None
    import pyproj
    import shapely
    from shapely.ops import transform

    to = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform
    return shapely.union_all([transform(to, shapely.box(*b)) for b in case.aois])


class Traffic:
    """Requests and bytes nginx logged since the last `take` (the lab logs every request at
    once, combined format): per phase, the same count for every candidate."""

    def __init__(self) -> None:
        self.path = Path(os.environ["LAB_RUN"]) / "nginx_access.log"
        self.offset = self.path.stat().st_size

    def take(self) -> tuple[int, int]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            lines = f.read().splitlines()
            self.offset = f.tell()
        sizes = [line.split(b'" ', 1)[-1].split(b" ")[:2] for line in lines]
        return len(lines), sum(int(s[1]) for s in sizes if len(s) == 2 and s[1].isdigit())


def _chips(dataset, case: Case, seed: int, n: int) -> list:
    """`n` chips of the case, each with the whole time axis (see `all_time`)."""
    from torchgeo.samplers import RandomPatchSampler

    area = roi(case, dataset.crs)
    sampler = RandomPatchSampler(dataset, size=CHIP, length=n, roi=area, generator=seed)
    return [(x, y, all_time()) for x, y in sampler]


def all_time() -> slice:
    """The time slice of every chip: all of it. `RandomPatchSampler` yields [x, y] and
    datasets fill t from their bounds; rasteret 0.3 then queries the open-left interval
    (first record, last record] and drops the first step of every series."""
    import pandas as pd

    return slice(pd.Timestamp.min, pd.Timestamp.max)


def _loader(dataset, chips: list, batch: int):
    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples

    return DataLoader(dataset, sampler=chips, batch_size=batch, collate_fn=stack_samples)


def _canonical(images, order: list[str]) -> np.ndarray:
    """[B, T, C, H, W] as float32 with the steps sorted by scene id: RasterDataset stacks
    files in path order, cogdex and rasteret in time order."""
    perm = sorted(range(len(order)), key=order.__getitem__)
    return images.float().numpy()[:, perm]


def _epochs(dataset, case: Case, n: int, workers: int, start: str | None) -> tuple[float, float]:
    """Chips per second of two epochs over the same `n` chips, no earlier phase read them:
    the first (worker start and every read), then the second (each worker keeps its
    process, so its caches: a training loop's steady state)."""
    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples

    loader = DataLoader(
        dataset,
        sampler=_chips(dataset, case, SEED + 1 + workers, n),
        batch_size=case.batch,
        num_workers=workers,
        collate_fn=stack_samples,
        persistent_workers=workers > 0,
        multiprocessing_context=start if workers else None,
        timeout=WORKER_TIMEOUT_S if workers else 0,
    )
    rates = []
    for _ in range(2):
        t = time.perf_counter()
        done = sum(int(b["image"].shape[0]) for b in loader)
        rates.append(round(done / (time.perf_counter() - t), 2))
    return rates[0], rates[1]


def measure(
    dataset,
    traffic: Traffic,
    case: Case,
    order: list[str],
    steady_chips: int,
    imported: float,
    index_s: float,
    workers_start: str | None = None,
    **fields: Any,
) -> None:
    """Time the first batch, then the same batch again in the process (warm), optionally the
    steady state; save the first batch where the runner asks; print the one JSON line.
    `order`: the scene id of each time step as the dataset stacks them; `traffic` counts
    from the start of the index phase; `imported`: when the imports were done;
    `workers_start`: how DataLoader workers start (default: the platform's, fork on Linux)."""
    if len(order) != case.scenes:  # RasterDataset skips files GDAL fails to open
        raise SystemExit(f"the dataset indexes {len(order)} records, the case wants {case.scenes}")
    t = time.perf_counter()
    chips = _chips(dataset, case, SEED, case.batch)
    batch = next(iter(_loader(dataset, chips, case.batch)))
    first_s = time.perf_counter() - t
    cold = traffic.take()
    t = time.perf_counter()
    warm_batch = next(iter(_loader(dataset, chips, case.batch)))
    warm_s = time.perf_counter() - t
    warm = traffic.take()
    if batch["image"].shape[1] != len(order):
        raise SystemExit(f"{batch['image'].shape[1]} time steps, the case wants {len(order)}")
    images = _canonical(batch["image"], order)
    if not np.array_equal(images, _canonical(warm_batch["image"], order)):
        raise SystemExit("the warm call read other pixels than the first")
    steady = {}
    if steady_chips:
        # 2 workers first: forked workers inherit the parent's caches (GDAL's do, cogdex's
        # runtime starts afresh), so each measure starts from the same cold-batch caches.
        for workers in (2, 0):
            try:
                first, second = _epochs(dataset, case, steady_chips, workers, workers_start)
            except RuntimeError as failed:  # DataLoader: a worker died or timed out
                steady[f"failed_w{workers}"] = str(failed).splitlines()[0][:160]
                continue
            steady |= {f"epoch1_chips_per_s_w{workers}": first, f"chips_per_s_w{workers}": second}
    save = os.environ.get("BENCH_SAVE")
    if save:
        _save(Path(save), dataset, case, order, images, chips)
    report(
        **fields,
        shape=list(batch["image"].shape),
        dtype=str(batch["image"].dtype),
        imported_s=round(imported - T0, 4),
        index_s=round(index_s, 4),
        first_batch_s=round(first_s, 4),
        cold_s=round(index_s + first_s, 4),
        warm_s=round(warm_s, 4),
        cold_requests=cold[0],
        cold_bytes=cold[1],
        warm_requests=warm[0],
        warm_bytes=warm[1],
        **steady,
    )


def _save(folder: Path, dataset, case: Case, order: list[str], images, chips) -> None:
    """The first batch for the runner's comparison, read on the chips of the runner's first
    candidate (`chips.json`, which that candidate writes) where they differ from ours:
    across CRSs each dataset's index puts its pixel lattice elsewhere."""
    mine = [[[float(s.start), float(s.stop)] for s in chip[:2]] for chip in chips]
    ref_file = folder / "chips.json"
    if not ref_file.exists():
        ref_file.write_text(json.dumps(mine))
    ref = json.loads(ref_file.read_text())
    if ref != mine:
        ref_chips = [(*(slice(*s) for s in chip), all_time()) for chip in ref]
        images = _canonical(next(iter(_loader(dataset, ref_chips, case.batch)))["image"], order)
    steps = sorted(order)
    name = os.environ["BENCH_NAME"]
    np.savez(
        folder / f"{name}.npz",
        images=images,
        steps=np.array(steps),
        own_chips=np.array(mine),
        exact=np.array(case.crs is None),  # one CRS: the pixels must be equal (batches.py)
    )
