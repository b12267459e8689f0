"""Timeline of a cold get-numpy process: where its wall time and CPU go, mark by mark.

Runs the `get-numpy` scenario's read (the cached index of the lab's items, one AOI x 4
bands) in `--runs` fresh interpreters and prints, per mark, the median wall time since the
process started and the process CPU at that point. It covers the import groups, the index
load, planning, the first and last GET sent and landed, decodes and warps. The marks come
from wrapping the functions named: the numbers that docs/benchmarks.md's "get-numpy's cold
set-up" section quotes. Run it in a lab's environment (`source $LAB_RUN/env.sh`) after one
`benchmarks/run.py get-numpy` has built the cache, with the same `COGDEX_BENCH_CACHE`.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402  (after T0: the marks count from the interpreter's start)
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SCENARIOS = Path(__file__).parent / "scenarios"


def _age_at_t0() -> float:
    """Seconds between the process's start (the kernel's) and T0."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - started - (time.perf_counter() - T0)


def child() -> None:
    """One cold process: print its marks as JSON lines (name, wall ms, CPU ms or None)."""
    age = _age_at_t0()
    marks: list[tuple[str, float, float | None]] = []

    def ms(t: float) -> float:
        return (t - T0 + age) * 1000

    def mark(name: str) -> None:
        marks.append((name, ms(time.perf_counter()), time.process_time() * 1000))

    mark("interpreter + site")
    sys.path.insert(0, str(SCENARIOS))
    import numpy  # noqa: F401
    from common import BANDS, aoi

    mark("numpy (+ the scenario's common)")
    import cogdex
    from cogdex.io import fetch

    mark("cogdex.io.fetch")
    import cogdex.builds

    mark("cogdex.builds (the index stack)")
    from cogdex import pixels
    from cogdex.read import reader, scenes

    mark("cogdex.pixels (the read stack)")
    spans: dict[str, list[tuple[float, float]]] = {"GET": [], "decode": [], "warp": []}

    def timed(what: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = function(*args, **kwargs)
            spans[what].append((start, time.perf_counter()))
            return result

        return run

    def timed_async(what: str, function: Callable[..., Any]) -> Callable[..., Any]:
        async def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = await function(*args, **kwargs)
            spans[what].append((start, time.perf_counter()))
            return result

        return run

    def marked(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            mark(name)
            return result

        return run

    fetch._get_range = timed_async("GET", fetch._get_range)
    reader._decode_and_use = timed("decode", reader._decode_and_use)
    scenes._warp_into = timed("warp", scenes._warp_into)
    pixels.plan_slots = marked("plan_slots", pixels.plan_slots)
    scenes.plan = marked("scenes.plan", scenes.plan)
    coll = cogdex.build_from_stac(
        os.environ["LAB_STAC_URL"], "sentinel-2-l2a", name="lab", bands=list(BANDS),
        bbox=aoi(), date_range=("2024-01-01", "2024-02-01"),
        cache_dir=os.environ.get("COGDEX_BENCH_CACHE", "/tmp/cogdex-bench/get-numpy-cache"),
    )  # fmt: skip
    mark("build_from_stac answered by the cache")
    coll.read_inputs(list(BANDS))
    mark("read_inputs (rows, band headers)")
    coll.get_numpy(aoi(), list(BANDS))
    mark("get_numpy done")
    for what, first, last in (("GET", "sent", "landed"), ("decode", "start", "end"),
                              ("warp", "start", "end")):  # fmt: skip
        if spans[what]:
            starts, ends = zip(*spans[what], strict=True)
            marks.append((f"first {what} {first}", ms(min(starts)), None))
            marks.append((f"last {what} {first}", ms(max(starts)), None))
            marks.append((f"first {what} {last}", ms(min(ends)), None))
            marks.append((f"last {what} {last}", ms(max(ends)), None))
    for name, wall, cpu in marks:
        print(json.dumps([name, wall, cpu]))
    sys.stdout.flush()
    os._exit(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="cold processes (medians over them)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child()
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child"], capture_output=True, text=True, check=True
        )
        for line in out.stdout.splitlines():
            name, w, c = json.loads(line)
            wall.setdefault(name, []).append(w)
            if c is not None:
                cpu.setdefault(name, []).append(c)
    print(f"median of {args.runs} cold processes: wall ms since start, process CPU ms")
    for name in sorted(wall, key=lambda n: statistics.median(wall[n])):
        c = f"{statistics.median(cpu[name]):6.0f}" if name in cpu else "      "
        print(f"{statistics.median(wall[name]):7.0f}  {c}  {name}")


if __name__ == "__main__":
    main()
