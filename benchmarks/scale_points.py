"""sample_points of many points on a Dask LocalCluster of 1 vs 2 workers, against the lab.

    uv run python benchmarks/scale_points.py --source /tmp/labdata/mid --points 1000000 --rtt 20

Starts a lab of its own over a copy of `--source` (the scenes linked, the STAC copied: the
lab rewrites hrefs to its port), on its run folder (`LAB_RUN`, else under `--work`) and
`--port`, so a lab another benchmark runs is left alone; HTTP only, with `--rtt` ms of
added round trip. It builds the index of `--scenes` scenes (B04 and B08). The points lie
where every scene overlaps (each point is in every file), as in benchmarks/run.py's
sample-points scenario. Then, round-robin so the machine's load falls on every candidate
alike, it times `sample_points` of all points: in this process (no client), and with
`client=` on a cluster of 1 and of 2 worker processes
(1 thread each; clusters started and warmed before timing). Every call starts with empty
tile caches (the driver's and the workers'), so each one fetches and decodes its tiles.
Reported per candidate: points/s (median), the speed-up over 1 worker, and the CPU
milliseconds per tile spent by the driver (planning, assembling), the workers (fetch,
decode, gather) and the lab (nginx and the latency proxy). Every table must equal the local
one. Results go to bench-results/scale-points-rtt<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from distributed import Client

import cogdex
from cogdex.read.points import plan_points
from cogdex.read.tilecache import tile_cache

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_build import Lab, cpu_counters, cpu_since, local_and_clusters, save_result

HTTP_PORT = 18480
"""The lab's public HTTP port by default (the shared lab's is 18080; its backend is +10000)."""
BANDS = ["B04", "B08"]


def own_copy(source: Path, out: Path) -> Path:
    """A data folder of this benchmark's own over `source`'s scenes (linked): the lab
    rewrites the STAC hrefs of the folder it serves to its port, which must not touch a
    shared data set."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "scenes").exists():
        os.symlink(source / "scenes", out / "scenes")
    for name in ("items.json", "collection.json", "manifest.json"):
        shutil.copyfile(source / name, out / name)
    return out


def overlap_points(items: list[dict[str, Any]], n: int, seed: int = 42) -> tuple[Any, Any]:
    """`n` lon/lat points inside every item's bbox (shrunk by 5%, clear of the edges)."""
    boxes = np.array([it["bbox"] for it in items])
    xmin, ymin = boxes[:, 0].max(), boxes[:, 1].max()
    xmax, ymax = boxes[:, 2].min(), boxes[:, 3].min()
    if xmin >= xmax or ymin >= ymax:
        raise SystemExit("the scenes have no common area")
    dx, dy = (xmax - xmin) * 0.05, (ymax - ymin) * 0.05
    rng = np.random.default_rng(seed)
    return rng.uniform(xmin + dx, xmax - dx, n), rng.uniform(ymin + dy, ymax - dy, n)


def tiles_read(coll: cogdex.Collection, lon: Any, lat: Any) -> int:
    """The distinct tiles a call reads (as the sampler plans them)."""
    table, sources = coll.read_inputs(BANDS)
    plan = plan_points(sources, lon, lat, list(range(len(table))), fill=0, dtype=np.uint16)
    return len({(t.source.url, t.tile) for t in plan.tiles})


def sample(coll: cogdex.Collection, lon: Any, lat: Any, client: Client | None) -> pa.Table:
    tile_cache().clear()
    if client is not None:
        client.run(lambda: tile_cache().clear())
    return coll.sample_points((lon, lat), BANDS, client=client)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--source", type=Path, default=Path("/tmp/labdata/mid"), help="lab data")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--rtt", type=int, default=20, help="added round-trip time in ms")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cogdex-bench/scale-points"))
    ap.add_argument("--port", type=int, default=HTTP_PORT, help="the lab's HTTP port")
    a = ap.parse_args()
    source = own_copy(a.source.resolve(), a.work / f"data-port{a.port}")
    items = json.loads((source / "items.json").read_text())["features"]
    items = sorted(items, key=lambda it: it["properties"]["datetime"])[: a.scenes]
    base = items[0]["assets"]["red"]["href"].split("/scenes/")[0]
    lon, lat = overlap_points(items, a.points)
    with ExitStack() as stack:
        lab = Lab(source, a.rtt, Path(os.environ.get("LAB_RUN") or a.work / "run"), a.port)
        stack.callback(lab.close)
        coll = cogdex.build_from_items(
            items, name="points", bands=BANDS, cache=False, progress=False,
            href_rewrites={base: f"http://127.0.0.1:{a.port}"},
        )  # fmt: skip
        tiles = tiles_read(coll, lon, lat)
        clients = local_and_clusters(stack, "local (no client)")
        reference = sample(coll, lon, lat, None)  # warms the page cache and the lab
        for client in clients.values():  # warms the workers (imports, stores, codecs)
            assert sample(coll, lon[:1000], lat[:1000], client).equals(
                sample(coll, lon[:1000], lat[:1000], None)
            )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
        for _ in range(a.repeat):
            for name, client in clients.items():
                cpu = cpu_counters(client, lab)
                t0 = time.perf_counter()
                table = sample(coll, lon, lat, client)
                wall = time.perf_counter() - t0
                driver, workers, served = cpu_since(cpu, client, lab)
                assert table.equals(reference), f"{name}: not the local call's table"
                del table
                runs[name].append(
                    {
                        "wall_s": round(wall, 3),
                        "points_per_s": round(a.points / wall),
                        "driver_cpu_ms_per_tile": round(driver / tiles * 1e3, 2),
                        "worker_cpu_ms_per_tile": round(workers / tiles * 1e3, 2),
                        "lab_cpu_ms_per_tile": round(served / tiles * 1e3, 2),
                    }
                )
                print(name, runs[name][-1], flush=True)
    one = statistics.median(r["points_per_s"] for r in runs["1 worker"])
    rows = []
    for name, done in runs.items():
        rate = statistics.median(r["points_per_s"] for r in done)
        medians = {k: statistics.median(r[k] for r in done) for k in done[0]}
        rows.append({"candidate": name, **medians, "vs_1_worker": round(rate / one, 2)})
    print(
        f"\n{a.points:,} points x {len(items)} scenes x {len(BANDS)} bands "
        f"({reference.num_rows:,} values, {tiles} tiles), RTT {a.rtt} ms, "
        f"{os.cpu_count()} cores, median of {a.repeat}"
    )
    print(
        "| sample_points | wall s | points/s | vs 1 worker | CPU ms/tile: driver | workers | lab |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['candidate']} | {r['wall_s']:.2f} | {r['points_per_s']:,.0f} "
            f"| {r['vs_1_worker']:.2f}x | {r['driver_cpu_ms_per_tile']:.1f} "
            f"| {r['worker_cpu_ms_per_tile']:.1f} | {r['lab_cpu_ms_per_tile']:.1f} |"
        )
    result = {
        "points": a.points,
        "scenes": len(items),
        "bands": BANDS,
        "values": reference.num_rows,
        "tiles": tiles,
        "rtt_ms": a.rtt,
        "repeat": a.repeat,
        "rows": rows,
        "runs": runs,
    }
    save_result(f"scale-points-rtt{a.rtt}", result)


if __name__ == "__main__":
    main()
