"""A 4,096 x 4,096 px mosaic read lazily (`get_xarray(chunks=...)`) on a Dask LocalCluster of
1 vs 2 workers, against the lab.

    uv run python benchmarks/scale_mosaic.py --rtt 20 --repeat 5

Writes (once) `--data`: per date, a 3 x 3 grid of 2,048 px COGs (uint16, two bands, deflate,
512 px tiles, overviews) in one UTM zone, 512 px apart edge to edge (1,536 px origin to
origin), so each date's mosaic covers 5,120 px and neighbours overlap by a tile. Starts a lab
of its own over it (`LAB_RUN`, `--port`: other labs are left alone), HTTP only, with `--rtt`
ms of added round trip, and builds the index (9 records a date). Then, round-robin so that
the machine's load falls on every candidate alike, it computes the centre 4,096 x 4,096 px of
every date, merged (`merge="first"`, one step a date), in chunks on the files' tiles
(`--chunks`: 512 and 2,048 px): in this process (Dask's threaded scheduler, as many threads
as cores) and on clusters of 1 and of 2 worker processes (1 thread each), each worker's
tile cache emptied before a run. A run is `persist` until every chunk is read: the chunks
stay where they were read, as a cluster's analysis keeps them (gathering 134 MB into the
driver would time the transfer). Every result, gathered after timing, must equal the eager
read. Reported per candidate: time, output MB/s, source
tiles/s (tiles fetched and decoded: every tile of every record that meets the mosaic),
the speed-up over 1 worker, and the CPU seconds per tile of the driver, the workers and the
lab (nginx and the latency proxy). Also the task graph: bytes per chunk, and the same
read's graph over an index grown to 2,000 rows by records elsewhere.
Results go to bench-results/scale-mosaic-rtt<N>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
import xarray as xr
from distributed import Client, as_completed, futures_of
from distributed.protocol.pickle import dumps

import cogdex
from cogdex.io import fetch
from cogdex.read.tilecache import tile_cache
from cogdex.testing import Scene, write_cog, write_item_collection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_build import Lab, cpu_counters, cpu_since, local_and_clusters, save_result

HTTP_PORT = 18480
"""The lab's public HTTP port by default (the shared lab's is 18080; its backend is +10000)."""
EPSG, RES, SIZE, TILE, STEP = 32643, 10.0, 2048, 512, 1536
ORIGIN = (600_000.0, 2_300_000.0)  # upper-left of the grid of scenes, in EPSG:32643
MOSAIC = 4096
BANDS = ("B04", "B08")


def write_data(root: Path, dates: int) -> list[Scene]:
    """`dates` x 9 scenes (see the module docstring); kept when already written."""
    scenes = []
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    for d in range(dates):
        when = dt.datetime(2024, 1, 1 + 5 * d, 5, 30, tzinfo=dt.UTC)
        for k in range(9):
            row, col = divmod(k, 3)
            transform = (RES, 0.0, ORIGIN[0] + col * STEP * RES, 0.0, -RES,
                         ORIGIN[1] - row * STEP * RES)  # fmt: skip
            sid = f"S2A_43QXX_{when:%Y%m%d}_{k}_L2A"
            files = {}
            for b, band in enumerate(BANDS):
                path = files[band] = root / "scenes" / sid / f"{band}.tif"
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                field = 3000 + 800 * np.sin((xx + col * STEP) / 300 + b + d) * np.cos(
                    (yy + row * STEP) / 410
                )
                noise = rng.integers(0, 400, (SIZE, SIZE))
                write_cog(path, (field + noise).astype(np.uint16), EPSG, transform, 0,
                          tile_size=TILE)  # fmt: skip
            scenes.append(Scene(sid, when, EPSG, "43QXX", transform, SIZE, 0.0, False, 0.0, files))
    return scenes


def aoi() -> tuple[float, float, float, float]:
    """The centre 4,096 px of the grid of scenes, in its CRS."""
    span = 2 * STEP + SIZE
    left = ORIGIN[0] + (span - MOSAIC) / 2 * RES
    top = ORIGIN[1] - (span - MOSAIC) / 2 * RES
    return (left + RES / 2, top - (MOSAIC - 0.5) * RES, left + (MOSAIC - 0.5) * RES, top - RES / 2)


def source_tiles(dates: int) -> int:
    """Tiles of every record (both bands) that meet the mosaic."""
    span = 2 * STEP + SIZE
    start = (span - MOSAIC) // 2
    per_axis = 0
    for k in range(3):
        lo, hi = k * STEP - start, k * STEP - start + SIZE  # the scene in mosaic pixels
        per_axis += sum(1 for t in range(0, SIZE, TILE) if lo + t < MOSAIC and lo + t + TILE > 0)
        assert hi > 0
    return per_axis * per_axis * len(BANDS) * dates


def read(coll: cogdex.Collection, chunks: dict[str, int] | None) -> xr.Dataset:
    return coll.get_xarray(aoi(), list(BANDS), geometry_crs=EPSG, merge="first", chunks=chunks)


def grown(coll: cogdex.Collection, rows: int) -> cogdex.Collection:
    """`coll` plus copies of its records moved 20 degrees west, to `rows` rows: records
    the mosaic never touches."""
    table = coll.to_arrow()
    parts = [table]
    k = 0
    while sum(len(p) for p in parts) < rows:
        part = table.set_column(
            0, "id", pc.binary_join_element_wise(table.column("id"), pa.scalar(f"-{k}"), "")
        )
        shapes = shapely.from_wkb(part.column("geometry").to_numpy(zero_copy_only=False))
        moved = shapely.transform(shapes, lambda xy: np.add(xy, [-20.0, 0.0]))
        part = part.set_column(
            part.schema.get_field_index("geometry"), "geometry", pa.array(shapely.to_wkb(moved))
        )
        bbox = part.column("bbox").combine_chunks()
        fields = {f.name: bbox.field(f.name) for f in bbox.type}
        for name in ("xmin", "xmax"):
            fields[name] = pc.subtract(fields[name], 20.0)
        part = part.set_column(
            part.schema.get_field_index("bbox"), "bbox",
            pa.StructArray.from_arrays(list(fields.values()), names=list(fields)),
        )  # fmt: skip
        parts.append(part)
        k += 1
    return cogdex.as_collection(pa.concat_tables(parts).slice(0, rows), "grown")


def graph_bytes(ds: xr.Dataset) -> int:
    return len(dumps(dict(ds.__dask_graph__())))


def _held(ds: xr.Dataset, client: Client | None) -> xr.Dataset:
    """`ds` computed and kept where it was computed (on the workers, or here by Dask's
    threaded scheduler): the read alone, without gathering 134 MB into this process."""
    if client is None:
        return ds.persist(scheduler="threads")
    held = client.persist(ds)
    for _ in as_completed(futures_of(held), loop=client.loop):  # read, not gathered
        pass
    return held


def _gathered(ds: xr.Dataset, client: Client | None) -> xr.Dataset:
    return ds.compute() if client is None else client.compute(ds).result()


def _fresh(client: Client | None) -> None:
    tile_cache().clear()
    if client is not None:
        client.run(lambda: tile_cache().clear())


def _requests(client: Client | None) -> int:
    if client is None:
        return fetch.stats().requests
    return sum(client.run(lambda: fetch.stats().requests).values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/tmp/labdata-h1/mosaic"))
    ap.add_argument("--dates", type=int, default=2)
    ap.add_argument("--rtt", type=int, default=20, help="added round-trip time in ms")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunks", type=int, nargs="+", default=[512, 2048], help="chunk px")
    run = os.environ.get("LAB_RUN", "/tmp/lab/run-mosaic")
    ap.add_argument("--run", type=Path, default=Path(run), help="the lab's run folder")
    ap.add_argument("--port", type=int, default=int(os.environ.get("LAB_PORT_HTTP", HTTP_PORT)))
    a = ap.parse_args()
    scenes = write_data(a.data, a.dates)
    write_item_collection(scenes, a.data, f"http://127.0.0.1:{a.port}")
    tiles = source_tiles(a.dates)
    with ExitStack() as stack:
        lab = Lab(a.data, a.rtt, a.run, a.port)
        stack.callback(lab.close)
        coll = cogdex.build_from_stac(
            str(a.data / "items.json"), name="mosaic", bands=list(BANDS), cache=False
        )
        eager = read(coll, None)
        out_mb = sum(eager[b].nbytes for b in BANDS) / 1e6
        sizes = {f"{c} px chunks": {"time": 1, "y": c, "x": c} for c in a.chunks}
        graph = {}
        for label, chunks in sizes.items():
            lazy = read(coll, chunks)
            graph[label] = {
                "chunks": lazy["B04"].data.npartitions,
                "bytes": graph_bytes(lazy),
                "bytes_2000_rows": graph_bytes(read(grown(coll, 2000), chunks)),
            }
        print("graph", graph, flush=True)
        clients = local_and_clusters(stack, "threads")
        candidates = {
            f"{who}, {label}": (client, chunks)
            for label, chunks in sizes.items()
            for who, client in clients.items()
        }
        for client, chunks in candidates.values():  # warm: imports, codecs, runtimes, links
            _fresh(client)
            xr.testing.assert_identical(_gathered(_held(read(coll, chunks), client), client), eager)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in candidates}
        for _ in range(a.repeat):
            for name, (client, chunks) in candidates.items():
                _fresh(client)
                ds = read(coll, chunks)  # a new graph: no result kept by a scheduler
                cpu, requested = cpu_counters(client, lab), _requests(client)
                t0 = time.perf_counter()
                held = _held(ds, client)
                wall = time.perf_counter() - t0
                driver, workers, served = cpu_since(cpu, client, lab)
                requests = _requests(client) - requested
                xr.testing.assert_identical(_gathered(held, client), eager)  # after timing
                if client is None:  # the driver is the worker
                    workers, driver = driver, 0.0
                runs[name].append(
                    {
                        "wall_s": round(wall, 3),
                        "mb_per_s": round(out_mb / wall, 1),
                        "tiles_per_s": round(tiles / wall),
                        "requests": requests,
                        "driver_cpu_ms_per_tile": round(driver / tiles * 1e3, 3),
                        "worker_cpu_ms_per_tile": round(workers / tiles * 1e3, 3),
                        "lab_cpu_ms_per_tile": round(served / tiles * 1e3, 3),
                    }
                )
                print(name, runs[name][-1], flush=True)
    rows = []
    for name, done_runs in runs.items():
        medians = {k: statistics.median(r[k] for r in done_runs) for k in done_runs[0]}
        base = name.replace("threads", "1 worker").replace("2 workers", "1 worker")
        one = statistics.median(r["wall_s"] for r in runs[base])
        speedup = round(one / medians["wall_s"], 2)
        rows.append({"candidate": name, **medians, "vs_1_worker": speedup})
    print(
        f"\n{a.dates} x {MOSAIC} x {MOSAIC} px, {len(BANDS)} bands uint16 ({out_mb:.0f} MB), "
        f"{tiles} source tiles of {TILE} px, RTT {a.rtt} ms, {os.cpu_count()} cores, "
        f"median of {a.repeat}"
    )
    print("| read (on) | s | MB/s | tiles/s | vs 1 worker | CPU ms/tile: driver | workers | lab |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['candidate']} | {r['wall_s']:.2f} | {r['mb_per_s']:.0f} | "
            f"{r['tiles_per_s']:,.0f} | {r['vs_1_worker']:.2f}x | "
            f"{r['driver_cpu_ms_per_tile']:.2f} | {r['worker_cpu_ms_per_tile']:.2f} | "
            f"{r['lab_cpu_ms_per_tile']:.2f} |"
        )
    result = {
        "dates": a.dates,
        "mosaic_px": MOSAIC,
        "bands": list(BANDS),
        "output_mb": round(out_mb, 1),
        "source_tiles": tiles,
        "rtt_ms": a.rtt,
        "repeat": a.repeat,
        "graph": graph,
        "rows": rows,
        "runs": runs,
    }
    save_result(f"scale-mosaic-rtt{a.rtt}", result)


if __name__ == "__main__":
    main()
