"""Index build of many COG headers on a Dask LocalCluster of 1 vs 2 workers, against the lab.

    uv run python benchmarks/scale_build.py --source /tmp/labdata/mid --items 10000 --rtt 20

Makes a data folder of `--items` items whose one asset (B04) is a symlink to one of the
source scenes' files (distinct URLs, real COG headers), and starts a lab of its own over it
on other ports (`LAB_RUN`, `--port`: a lab another benchmark runs is left alone),
HTTP only, with `--rtt` ms of added round trip. Then, round-robin so the machine's load
falls on every candidate alike, it times `build_from_items(..., cache=False)` of all items:
in this process (no client), and with `client=` on a cluster of 1 and of 2 worker
processes (1 thread each; clusters started and warmed before timing). Reported per
candidate: headers/s (median), the speed-up over 1 worker, and the CPU seconds per header
spent by the driver, the workers and the lab (nginx and the latency proxy), which together
say what bounds the scaling on a small machine. Every build must equal the local one.
Results go to bench-results/scale-build-rtt<N>.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

import cogdex

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import LAB_DIR, LAB_HOME, REPO

HTTP_PORT = 18380
"""The lab's public HTTP port by default (the shared lab's is 18080; its backend is +10000)."""
BAND = "B04"


def make_items(source: Path, out: Path, n: int, base_url: str) -> list[dict[str, Any]]:
    """`n` items over `source`'s scenes, each with its own B04 URL (a symlink) and date."""
    features = json.loads((source / "items.json").read_text())["features"]
    items = []
    for i in range(n):
        item = copy.deepcopy(features[i % len(features)])
        scene = item["id"]
        item["id"] = f"{scene}_{i:05d}"
        item["properties"]["datetime"] = f"{2020 + i % 5}{item['properties']['datetime'][4:]}"
        key, asset = next(
            (k, a) for k, a in item["assets"].items() if a["href"].endswith(BAND + ".tif")
        )
        link = out / "scenes" / item["id"] / f"{BAND}.tif"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink((source / "scenes" / scene / f"{BAND}.tif").resolve(), link)
        item["assets"] = {key: {**asset, "href": f"{base_url}/scenes/{item['id']}/{BAND}.tif"}}
        items.append(item)
    (out / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    return items


class Lab:
    """A lab of this benchmark's own (its run folder and ports), HTTP only."""

    def __init__(self, data: Path, rtt: int, run: Path, port: int = HTTP_PORT) -> None:
        self.env = {
            **os.environ,
            "LAB_HOME": str(LAB_HOME),
            "LAB_RUN": str(run),
            "LAB_PORT_HTTP": str(port),
            "LAB_PORT_STAC": str(port + 2),
            "LAB_SERVICES": "http",
            "LAB_UPLOAD": "0",
            "LAB_RTT_MS": str(rtt),
        }
        self.run = run
        subprocess.run(["bash", str(LAB_DIR / "down.sh")], env=self.env, capture_output=True)
        up = subprocess.run(
            ["bash", str(LAB_DIR / "up.sh"), str(data)],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if up.returncode != 0:
            raise RuntimeError(f"the lab did not start:\n{up.stderr[-2000:]}")

    def cpu_s(self) -> float:
        """CPU seconds nginx (its workers too) and the proxy have used so far."""
        pids = [int(p.read_text()) for p in self.run.glob("*.pid")]
        pids += [c for p in pids for c in _children(p)]
        return sum(_cpu(p) for p in pids)

    def close(self) -> None:
        subprocess.run(["bash", str(LAB_DIR / "down.sh")], env=self.env, capture_output=True)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def local_and_clusters(stack: ExitStack, local: str) -> dict[str, Client | None]:
    """`local` (no client, the in-process read) and clients of 1 and 2 single-threaded
    worker processes, closed with `stack`: the candidates every scale-out benchmark runs."""
    clients: dict[str, Client | None] = {local: None}
    for n in (1, 2):
        cluster = stack.enter_context(
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        )
        clients[f"{n} worker{'s' * (n > 1)}"] = stack.enter_context(
            Client(cluster, set_as_default=False)
        )
    return clients


def save_result(name: str, result: dict[str, Any]) -> Path:
    """Write `result`, dated, to bench-results/<name>.json."""
    out = REPO / "bench-results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), **result}, indent=1))
    return out


def cpu_counters(client: Client | None, lab: Lab) -> tuple[float, float, float]:
    """CPU seconds so far of (this process, the client's workers, the lab's servers): their
    differences over a run say where its CPU went."""
    workers = 0.0 if client is None else sum(client.run(time.process_time).values())
    return time.process_time(), workers, lab.cpu_s()


def cpu_since(
    before: tuple[float, float, float], client: Client | None, lab: Lab
) -> tuple[float, float, float]:
    """(driver, workers, lab) CPU seconds since `before` (`cpu_counters`)."""
    now = cpu_counters(client, lab)
    return now[0] - before[0], now[1] - before[1], now[2] - before[2]


def build(items: list[dict[str, Any]], client: Client | None) -> Any:
    return cogdex.build_from_items(
        items, name="scale", bands=[BAND], cache=False, progress=False, client=client
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--source", type=Path, default=Path("/tmp/labdata/mid"), help="lab data")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--rtt", type=int, default=20, help="added round-trip time in ms")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cogdex-bench/scale-build"))
    ap.add_argument("--port", type=int, default=HTTP_PORT, help="the lab's HTTP port")
    a = ap.parse_args()
    data = a.work / f"items-{a.items}-port{a.port}"
    items = make_items(a.source.resolve(), data, a.items, f"http://127.0.0.1:{a.port}")
    with ExitStack() as stack:
        lab = Lab(data, a.rtt, a.work / "run", a.port)
        stack.callback(lab.close)
        clients = local_and_clusters(stack, "local (no client)")
        reference = build(items, None).to_arrow()  # warms the page cache and the lab
        for client in clients.values():
            assert build(items[:64], client).to_arrow().equals(build(items[:64], None).to_arrow())
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
        for _ in range(a.repeat):
            for name, client in clients.items():
                cpu = cpu_counters(client, lab)
                t0 = time.perf_counter()
                table = build(items, client).to_arrow()
                wall = time.perf_counter() - t0
                driver, workers, served = cpu_since(cpu, client, lab)
                assert table.equals(reference), f"{name}: not the local build's rows"
                runs[name].append(
                    {
                        "wall_s": round(wall, 3),
                        "headers_per_s": round(a.items / wall),
                        "driver_cpu_ms_per_header": round(driver / a.items * 1e3, 3),
                        "worker_cpu_ms_per_header": round(workers / a.items * 1e3, 3),
                        "lab_cpu_ms_per_header": round(served / a.items * 1e3, 3),
                    }
                )
                print(name, runs[name][-1], flush=True)
    one = statistics.median(r["headers_per_s"] for r in runs["1 worker"])
    rows = []
    for name, done in runs.items():
        rate = statistics.median(r["headers_per_s"] for r in done)
        medians = {k: statistics.median(r[k] for r in done) for k in done[0] if k != "wall_s"}
        rows.append({"candidate": name, **medians, "vs_1_worker": round(rate / one, 2)})
    print(f"\n{a.items} COG headers, RTT {a.rtt} ms, {os.cpu_count()} cores, median of {a.repeat}")
    print("| build | headers/s | vs 1 worker | CPU ms/header: driver | workers | lab |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['candidate']} | {r['headers_per_s']:,.0f} | {r['vs_1_worker']:.2f}x "
            f"| {r['driver_cpu_ms_per_header']:.3f} | {r['worker_cpu_ms_per_header']:.3f} "
            f"| {r['lab_cpu_ms_per_header']:.3f} |"
        )
    row_bytes = round(reference.nbytes / len(reference))
    print(f"Arrow bytes per row: {row_bytes:,}")
    result = {
        "items": a.items,
        "rtt_ms": a.rtt,
        "repeat": a.repeat,
        "arrow_bytes_per_row": row_bytes,
        "rows": rows,
        "runs": runs,
    }
    save_result(f"scale-build-rtt{a.rtt}", result)


if __name__ == "__main__":
    main()
