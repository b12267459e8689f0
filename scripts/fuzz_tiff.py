"""Long-run fuzzing of cogdex's TIFF engine over mutated real headers.

The CI test (tests/tiff/test_tiff_robustness.py) runs a few thousand fixed examples; this
script draws fresh random mutations (see tests/tiff/fuzzing.py) until a time budget or
example count runs out. Cases run in worker processes, each case under a deadline and a
resident-memory limit enforced from outside (the worker is killed and replaced), so a
hang or a blow-up is counted, not suffered. Every finding (a raw exception, a hang, a
memory blow-up) is minimised by dropping edits while it persists and saved as a
reproducer: the .tif and a .txt with the seed, the edits and the traceback.

    uv run python scripts/fuzz_tiff.py --minutes 30 --workers 4
    uv run python scripts/fuzz_tiff.py --examples 200000 --seed 7 --out /tmp/fuzz-failures
    uv run python scripts/fuzz_tiff.py --extra path/to/more/seeds/*.tif
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.tiff.fuzzing

from tests.tiff.fuzzing import (
    BOUNDARY,
    CASE_SECONDS,
    KINDS,
    RAW_KINDS,
    Edit,
    Seed,
    is_finding,
    load_seed,
    mutate,
    outcome,
    write_seeds,
)


@dataclass(frozen=True, slots=True)
class Case:
    seed: int
    edits: tuple[Edit, ...]
    truncate: int | None


def draw(rng: random.Random, seeds: list[Seed]) -> Case:
    """Mostly header edits (raw and structural), sometimes tile data, sometimes a cut."""
    index = rng.randrange(len(seeds))
    seed = seeds[index]
    in_header = rng.random() < 0.85
    lo, hi = (0, seed.header_end - 1) if in_header else (seed.header_end, len(seed.data) - 1)
    edits = []
    for _ in range(rng.randint(1, 8)):
        value = rng.choice(BOUNDARY) if rng.random() < 0.5 else rng.getrandbits(64)
        if in_header and rng.random() < 0.5:
            edits.append((rng.choice(KINDS[len(RAW_KINDS) :]), rng.getrandbits(16), value))
        else:
            edits.append((rng.choice(RAW_KINDS), rng.randint(lo, hi), value))
    truncate = rng.randint(0, len(seed.data)) if rng.random() < 0.1 else None
    return Case(index, tuple(edits), truncate)


def _serve(conn: Connection, seed_paths: list[Path], scratch: Path) -> None:
    """Worker: run each case sent, answer (result, detail)."""
    warnings.simplefilter("ignore")
    seeds = [load_seed(p) for p in seed_paths]
    while True:
        case: Case = conn.recv()
        data = mutate(seeds[case.seed], list(case.edits), case.truncate)
        conn.send(outcome(data, scratch))


class Runner:
    """One worker process, replaced after any case it may not have recovered from."""

    def __init__(self, seed_paths: list[Path], work: Path, rss_limit: int, timeout: float):
        self.seed_paths = seed_paths
        self.scratch = work / f"case-{id(self)}.tif"
        self.rss_limit = rss_limit
        self.timeout = timeout
        self.process: multiprocessing.Process | None = None
        self.conn: Connection | None = None

    def run(self, case: Case) -> tuple[str, str]:
        if self.process is None or not self.process.is_alive():
            self._start()
        assert self.conn is not None and self.process is not None
        self.conn.send(case)
        started = time.monotonic()
        while not self.conn.poll(0.05):
            if not self.process.is_alive():
                return self._restart("raw:worker died", f"exit code {self.process.exitcode}")
            if _rss(self.process.pid) > self.rss_limit:
                return self._restart("memory", f"resident memory over {self.rss_limit} bytes")
            if time.monotonic() - started > self.timeout:
                return self._restart("hang", f"no answer after {self.timeout} s")
        result, detail = self.conn.recv()
        if result in ("hang", "memory"):  # threads may still be busy or holding memory
            self.stop()
        return result, detail

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, self.seed_paths, self.scratch), daemon=True
        )
        self.process.start()

    def _restart(self, result: str, detail: str) -> tuple[str, str]:
        self.stop()
        return result, detail

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
        self.process = None


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def minimise(runner: Runner, case: Case, result: str) -> Case:
    """Drop the cut, then edits one at a time, while the case still gives `result`."""
    if case.truncate is not None:
        trial = Case(case.seed, case.edits, None)
        if runner.run(trial)[0] == result:
            case = trial
    i = 0
    while i < len(case.edits):
        trial = Case(case.seed, case.edits[:i] + case.edits[i + 1 :], case.truncate)
        if runner.run(trial)[0] == result:
            case = trial
        else:
            i += 1
    return case


class Totals:
    """Outcomes of all workers (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.limit = limit
        self.started = 0

    def claim(self) -> bool:
        """Whether another case may start (under the --examples limit, 0: none)."""
        with self.lock:
            self.started += 1
            return not self.limit or self.started <= self.limit

    def add(self, result: str) -> int:
        with self.lock:
            self.outcomes[result] += 1
            return self.outcomes.total()

    def report(self) -> str:
        with self.lock:
            o = dict(self.outcomes)
        typed = {k: v for k, v in sorted(o.items()) if not is_finding(k) and k != "ok"}
        raw = {k: v for k, v in o.items() if k.startswith("raw:")}
        return (
            f"cases {sum(o.values())}, ok {o.get('ok', 0)}, typed errors {sum(typed.values())} "
            f"{typed}, raw exceptions {sum(raw.values())} {raw}, hangs {o.get('hang', 0)}, "
            f"memory blow-ups {o.get('memory', 0)}"
        )


def _save(out: Path, name: str, data: bytes, seed: Seed, case: Case, detail: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.tif"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(
        f"seed {seed.path.name}\nedits (kind, where, value) {list(case.edits)}\n"
        f"truncate {case.truncate}\n\n{detail}"
    )
    return path


def _work(
    number: int, args: argparse.Namespace, seeds: list[Seed], runner: Runner, totals: Totals
) -> None:
    rng = random.Random(f"{args.seed}-{number}")
    deadline = time.monotonic() + args.minutes * 60
    n = 0
    while time.monotonic() < deadline and totals.claim():
        case = draw(rng, seeds)
        result, detail = runner.run(case)
        count = totals.add(result)
        n += 1
        if is_finding(result):
            small = minimise(runner, case, result)
            seed = seeds[small.seed]
            data = mutate(seed, list(small.edits), small.truncate)
            name = f"{result.replace(':', '-')}-{args.seed}-{number}-{n}"
            path = _save(args.out, name, data, seed, small, detail)
            print(f"FINDING {result}: {path} ({len(small.edits)} edits)", flush=True)
        if count % 5000 == 0:
            print(totals.report(), flush=True)
    runner.stop()


def _fuzz(args: argparse.Namespace, work: Path) -> Totals:
    """Run the workers over seeds written to `work` until the budget is spent."""
    seed_paths = [*write_seeds(work / "seeds"), *args.extra]
    seeds = [load_seed(p) for p in seed_paths]
    totals = Totals(args.examples)
    print(f"fuzzing {len(seeds)} seeds with {args.workers} workers, seed {args.seed}", flush=True)
    runners = [
        Runner(seed_paths, work, args.rss_mb << 20, args.timeout) for _ in range(args.workers)
    ]
    threads = [
        threading.Thread(target=_work, args=(i, args, seeds, runner, totals))
        for i, runner in enumerate(runners)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget")
    parser.add_argument("--examples", type=int, default=0, help="stop after N (0: no limit)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="findings go here")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more seed TIFFs")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--rss-mb", type=int, default=1536, help="per-worker resident limit")
    parser.add_argument(
        "--timeout", type=float, default=CASE_SECONDS + 5, help="seconds before a case hangs"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    args.seed = args.seed if args.seed is not None else time.time_ns()

    with tempfile.TemporaryDirectory(prefix="cogdex-fuzz-") as folder:
        totals = _fuzz(args, Path(folder))
    print(f"done: {totals.report()}")
    return 1 if any(is_finding(k) for k in totals.outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
