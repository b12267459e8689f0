"""Run a scenario benchmark on the lab: each candidate as a fresh process, N rounds.

    uv run python benchmarks/run.py window-read --data /tmp/labdata/big --rtt 20 --repeat 3

Reports per candidate the whole-process wall time (interpreter start and imports included,
measured from outside) and CPU time, the HTTP requests nginx logged, and the candidate's own
JSON fields; then ratios against the baseline candidate measured in the same run (median
over median, and paired: round by round, with its interquartile range), the same against
the scenario's floor where it has one, and whether every candidate's output digest agrees.
Results go to bench-results/<scenario>-rtt<N>.json.

The TorchGeo scenarios (torchgeo-cold-1aoi, -5aoi, -crosscrs, torchgeo-steady) also time
phases inside each process and compare the candidates' first batches (batches.py); a peer
candidate that cannot run is left out with its reason in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batches import compare, phase_table
from lab import LAB_HOME, REPO, lab, nginx_traffic

HERE = Path(__file__).resolve().parent / "scenarios"
PY = sys.executable
PEER = str(LAB_HOME / "peer" / "bin" / "python")
PEER03 = LAB_HOME / "peer03" / "bin" / "python"
"""rasteret 0.3.x with the TorchGeo it supports, made from PyPI (docs/benchmarks.md)."""


@dataclass
class Candidate:
    name: str
    argv: list[str]
    baseline: bool = False
    env: dict[str, str] = field(default_factory=dict)
    optional: bool = False
    """A peer's candidate: if it cannot run, the table says why and the run goes on."""
    missing: str | None = None
    """Why the candidate cannot run here (it is left out, and the table says so)."""


def window_read(local: bool) -> list[Candidate]:
    flag = ["--local"] if local else []
    return [
        Candidate("cogdex", [PY, str(HERE / "window_read_cogdex.py"), *flag]),
        Candidate(
            "rasterio 16 threads",
            [PY, str(HERE / "window_read_rasterio.py"), "--threads", "16", *flag],
            baseline=True,
        ),
        Candidate("rasterio sequential", [PY, str(HERE / "window_read_rasterio.py"), *flag]),
        Candidate("floor", [PY, str(HERE / "window_read_floor.py"), *flag]),
        *([] if local else [floor_transfer()]),
    ]


def floor_transfer() -> Candidate:
    """The floor plus fetching the very bytes cogdex fetches through the lab's proxy (see
    window_read_floor_transfer.py): how much of a gap to the floor is the transfer."""
    return Candidate("floor + transfer", [PY, str(HERE / "window_read_floor_transfer.py")])


def index_build(extra: list[str]) -> list[Candidate]:
    return [
        Candidate("cogdex build", [PY, str(HERE / "index_build_cogdex.py"), *extra]),
        Candidate(
            "rasteret 0.4.1 build",
            [PEER, str(HERE / "index_build_rasteret.py"), *extra],
            baseline=True,
        ),
        Candidate("floor", [PY, str(HERE / "index_build_floor.py"), *extra]),
    ]


def index_subset() -> list[Candidate]:
    """Needs the synthetic indexes of benchmarks/make_synthetic_index.py (paths by env)."""
    env = {
        "INDEX_PATH": os.environ.get("INDEX_PATH", "/tmp/cogdex-bench/synth500k-cogdex"),
        "RASTERET_INDEX_PATH": os.environ.get(
            "RASTERET_INDEX_PATH", "/tmp/cogdex-bench/synth500k-rasteret"
        ),
    }
    return [
        Candidate("cogdex load+subset", [PY, str(HERE / "index_subset_cogdex.py")], env=env),
        Candidate(
            "rasteret 0.4.1 load+subset",
            [PEER, str(HERE / "index_subset_rasteret.py")],
            baseline=True,
            env=env,
        ),
        Candidate("floor", [PY, str(HERE / "index_subset_floor.py")], env=env),
    ]


def get_numpy() -> list[Candidate]:
    return [
        Candidate("cogdex get_numpy", [PY, str(HERE / "get_numpy_cogdex.py")]),
        Candidate(
            "rasteret 0.4.1 get_numpy", [PEER, str(HERE / "get_numpy_rasteret.py")], baseline=True
        ),
        Candidate("floor", [PY, str(HERE / "window_read_floor.py")]),
        floor_transfer(),
    ]


def sample_points() -> list[Candidate]:
    n = os.environ.get("BENCH_POINTS", "1000000")
    slow = os.environ.get("BENCH_POINTS_RASTERIO", "20000")
    return [
        Candidate(
            "cogdex sample_points", [PY, str(HERE / "sample_points_cogdex.py"), "--points", n]
        ),
        Candidate(
            "rasterio sample (20 threads)",
            [PY, str(HERE / "sample_points_rasterio.py"), "--points", slow],
            baseline=True,
        ),
        Candidate(
            "rasteret 0.4.1 sample_points",
            [PEER, str(HERE / "sample_points_rasteret.py"), "--points", n],
        ),
    ]


def _peer03() -> tuple[str, str | None]:
    """rasteret's version in the 0.3 venv, or why there is none."""
    found = sorted(PEER03.parents[1].glob("lib/python*/site-packages/rasteret-*.dist-info"))
    if not PEER03.exists() or not found:
        return "0.3.x", f"no rasteret 0.3.x venv at {PEER03.parents[1]} (docs/benchmarks.md)"
    return found[-1].name.removesuffix(".dist-info").split("-")[1], None


def torchgeo(case: str, steady: int = 0) -> list[Candidate]:
    """One of rasteret's TorchGeo cold-start cases (scenarios/torchgeo_common.py). The
    baseline comes first: its warm-up run writes the chips the others' saved batches use."""
    args = ["--case", case, *(["--steady", str(steady)] if steady else [])]
    version, missing = _peer03()
    peer = [str(PEER03)]

    def script(name: str) -> str:
        return str(HERE / f"torchgeo_{name}.py")

    candidates = [
        Candidate(
            "RasterDataset (GDAL)",
            [PY, script("rasterdataset"), *args],
            baseline=True,
        ),
        Candidate("cogdex", [PY, script("cogdex"), *args]),
        Candidate(
            f"rasteret {version}",
            [*peer, script("rasteret"), *args],
            optional=True,
            missing=missing,
        ),
    ]
    if not steady:
        candidates += [
            Candidate("cogdex first run", [PY, script("cogdex"), *args, "--fresh"]),
            Candidate(
                f"rasteret {version} first run",
                [*peer, script("rasteret"), *args, "--fresh"],
                optional=True,
                missing=missing,
            ),
        ]
    return candidates


def ndvi() -> list[Candidate]:
    """rasteret's NDVI time series (scenarios/ndvi_common.py; indexes by make_ndvi_index.py)."""
    version, missing = _peer03()
    script = str(HERE / "ndvi_rasterio.py")
    return [
        Candidate("rasterio 8 processes", [PY, script, "--processes", "8"], baseline=True),
        Candidate("rasterio 16 threads", [PY, script, "--threads", "16"]),
        Candidate("cogdex", [PY, str(HERE / "ndvi_cogdex.py")]),
        Candidate(
            f"rasteret {version}",
            [str(PEER03), str(HERE / "ndvi_rasteret.py")],
            optional=True,
            missing=missing,
        ),
    ]


def patches(n: int) -> list[Candidate]:
    """rasteret's Hugging Face table: `n` keyed patches (make_patches.py's)."""
    return [
        Candidate(
            "datasets (Parquet payloads)",
            [PY, str(HERE / "patches_hf.py"), "--n", str(n)],
            baseline=True,
        ),
        Candidate("cogdex (source COGs)", [PY, str(HERE / "patches_cogdex.py"), "--n", str(n)]),
    ]


SCENARIOS = {
    "window-read": lambda: window_read(local=False),
    "window-read-local": lambda: window_read(local=True),
    "index-build": lambda: index_build([]),
    "index-build-all": lambda: index_build(["--all"]),
    "index-subset": index_subset,
    "get-numpy": get_numpy,
    "sample-points": sample_points,
    "torchgeo-cold-1aoi": lambda: torchgeo("1aoi"),
    "torchgeo-cold-5aoi": lambda: torchgeo("5aoi"),
    "torchgeo-cold-crosscrs": lambda: torchgeo("crosscrs"),
    "ndvi": ndvi,
    "patches-120": lambda: patches(120),
    "patches-1000": lambda: patches(1000),
    # The same builds as index-build-all, over make_many_items.py folders of 1,000 and
    # 10,000 COGs (250 and 2,500 items x 4 bands): the headers-per-second table.
    "index-build-1k": lambda: index_build(["--all"]),
    "index-build-10k": lambda: index_build(["--all"]),
    "torchgeo-steady": lambda: torchgeo("1aoi", steady=int(os.environ.get("BENCH_CHIPS", "24"))),
}


def before(c: Candidate, tree: Path) -> Candidate:
    """Candidate `c` run by another checkout: its interpreter, its copy of the script, and a
    cache folder of its own (index formats may differ between the two), beside
    COGDEX_BENCH_CACHE when that is set (so labs on other ports keep apart)."""
    python = str(tree / ".venv" / "bin" / "python")
    script = str(tree / Path(c.argv[1]).relative_to(REPO))
    own = os.environ.get("COGDEX_BENCH_CACHE")
    cache = f"{own}-before" if own else f"/tmp/cogdex-bench/before-{Path(script).stem}"
    env = {**c.env, "COGDEX_BENCH_CACHE": cache}
    return Candidate(f"{c.name} (before)", [python, script, *c.argv[2:]], env=env)


def compile_bytecode(candidates: list[Candidate]) -> None:
    """Write .pyc files for every interpreter the candidates use.

    Cold processes are what these scenarios measure; with PYTHONDONTWRITEBYTECODE set (as
    on this team's machines) nothing is ever cached and every run would recompile its
    imports, which is no user's steady state.
    """
    for python in {PY, PEER, *(c.argv[0] for c in candidates)}:
        if Path(python).exists():
            code = "import compileall, sys; [compileall.compile_dir(p, quiet=2) for p in sys.path]"
            subprocess.run([python, "-c", code], capture_output=True, cwd=REPO)


class CandidateFailed(RuntimeError):
    def __init__(self, name: str, code: int, stderr: str) -> None:
        super().__init__(f"{name} failed ({code}):\n{stderr[-3000:]}")
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        self.reason = f"exit {code}: {lines[-1].strip() if lines else 'no message'}"


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower())


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_once(c: Candidate, env: dict[str, str], extra: dict[str, str] | None = None) -> dict:
    requests, sent = nginx_traffic(env)
    cpu = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.run(
        c.argv, env={**env, **c.env, **(extra or {})}, capture_output=True, text=True, cwd=REPO
    )
    wall = time.perf_counter() - t
    cpu = _children_cpu() - cpu  # the candidate's CPU time, all threads: steadier than wall
    if proc.returncode != 0:
        raise CandidateFailed(c.name, proc.returncode, proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # A candidate may time preparation that is not part of what it measures (the floor's
    # local tile lookup): it reports `prep_s`, which is taken off its wall time.
    wall -= result.get("prep_s", 0.0)
    cpu -= result.get("prep_cpu_s", 0.0)
    after = nginx_traffic(env)
    return {
        "wall_s": round(wall, 4),
        "process_cpu_s": round(cpu, 4),
        "http_requests": after[0] - requests,
        "http_bytes": after[1] - sent,
        **result,
    }


def summarize(name: str, runs: list[dict]) -> dict:
    walls = [r["wall_s"] for r in runs]
    return {
        "candidate": name,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "http_requests": runs[-1]["http_requests"],
        "http_bytes": runs[-1]["http_bytes"],
        "digest": runs[-1].get("digest"),
        "runs": runs,
    }


def paired_ratio(runs: list[dict], base: list[dict]) -> tuple[float, float, float]:
    """Quartiles of wall / baseline wall taken round by round: both ran back to back, so
    the machine's load in that round cancels out, unlike in a ratio of two medians."""
    ratios = [r["wall_s"] / b["wall_s"] for r, b in zip(runs, base, strict=True)]
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    low, mid, high = statistics.quantiles(ratios, n=4)
    return low, mid, high


def _med(row: dict, key: str) -> float:
    return statistics.median(r[key] for r in row["runs"])


def floor_table(rows: list[dict]) -> str:
    """Each candidate against the scenario's floor (the candidate named "floor"): medians,
    round by round (paired: IQR) and in CPU time, which a loaded machine moves least."""
    floor = next(r for r in rows if r["candidate"] == "floor")
    lines = [
        "| candidate | vs floor | paired vs floor (IQR) | CPU (s) | CPU vs floor |",
        "|---|---|---|---|---|",
    ]
    floor_cpu = _med(floor, "process_cpu_s")
    for r in rows:
        low, mid, high = paired_ratio(r["runs"], floor["runs"])
        cpu = _med(r, "process_cpu_s")
        lines.append(
            f"| {r['candidate']} | {r['median_s'] / floor['median_s']:.2f}x "
            f"| {mid:.2f}x ({low:.2f}-{high:.2f}) | {cpu:.3f} | {cpu / floor_cpu:.2f}x |"
        )
    return "\n".join(lines)


def runs_table(rows: list[dict], base: dict) -> str:
    """First and subsequent runs inside each process (the NDVI scenario: the workflow run
    twice, as a notebook cell run again; the first counts the script's imports), medians
    and ratios to the baseline's."""
    lines = [
        "| candidate | first run, imports included (s) | subsequent run (s) | "
        "first: vs baseline | subsequent: vs baseline |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        first, then = _med(r, "first_s"), _med(r, "subsequent_s")
        lines.append(
            f"| {r['candidate']} | {first:.3f} | {then:.3f} "
            f"| {first / _med(base, 'first_s'):.2f}x | {then / _med(base, 'subsequent_s'):.2f}x |"
        )
    return "\n".join(lines)


def rate_table(rows: list[dict], base: dict) -> str:
    """Index builds: COG headers per second of the whole process, requests and bytes per
    COG (nginx's log: every request a build makes to it is a header request)."""
    lines = [
        "| candidate | COGs | headers/s (whole process) | vs baseline | requests per COG | "
        "KB per COG |",
        "|---|---|---|---|---|---|",
    ]
    base_rate = base["runs"][-1]["cogs"] / base["median_s"]
    for r in rows:
        cogs = r["runs"][-1]["cogs"]
        rate = cogs / r["median_s"]
        lines.append(
            f"| {r['candidate']} | {cogs:,} | {rate:,.0f} | {rate / base_rate:.1f}x "
            f"| {r['http_requests'] / cogs:.2f} | {r['http_bytes'] / cogs / 1024:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--data", type=Path, required=True, help="lab data dir (make_scenes.py output)")
    ap.add_argument("--rtt", type=int, default=20, help="added round-trip time in ms")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", help="comma-separated candidate names to run")
    ap.add_argument(
        "--before",
        type=Path,
        help="another checkout of cogdex (with its own .venv): its cogdex candidates run in\n"
        "the same rounds, as 'NAME (before)', so a change is measured against its parent",
    )
    a = ap.parse_args()
    candidates = SCENARIOS[a.scenario]()
    left_out = {c.name: c.missing for c in candidates if c.missing}
    candidates = [c for c in candidates if not c.missing]
    if a.only:
        keep = set(a.only.split(","))
        candidates = [c for c in candidates if c.name in keep or c.baseline]
    if a.before:
        mine = [c for c in candidates if c.argv[0] == PY and c.name.startswith("cogdex")]
        candidates += [before(c, a.before.resolve()) for c in mine]
    compile_bytecode(candidates)
    saved = Path(tempfile.mkdtemp(prefix="cogdex-bench-outputs-"))
    with lab(a.data.resolve(), a.rtt) as env:
        for c in list(candidates):
            # Warm the page cache and the servers, not counted; candidates that save their
            # output for a comparison (BENCH_SAVE) do it here, outside the timed runs.
            try:
                run_once(c, env, {"BENCH_SAVE": str(saved), "BENCH_NAME": slug(c.name)})
            except CandidateFailed as failed:
                if not c.optional:
                    raise
                left_out[c.name] = failed.reason
                candidates.remove(c)
        runs: list[list[dict]] = [[] for _ in candidates]
        # Round-robin, so drift in the machine's load falls on every candidate alike.
        for _ in range(a.repeat):
            for c, done in zip(candidates, runs, strict=True):
                done.append(run_once(c, env))
    rows = [summarize(c.name, done) for c, done in zip(candidates, runs, strict=True)]
    base_runs = next(done for c, done in zip(candidates, runs, strict=True) if c.baseline)
    for r, c in zip(rows, candidates, strict=True):
        r["paired"] = paired_ratio(r["runs"], base_runs)
        r["baseline"] = c.baseline  # for plot.py
    for r in rows:
        print(
            f"{r['candidate']:24s} {r['median_s']:7.3f} s ({r['min_s']:.3f}-{r['max_s']:.3f})"
            f"  {r['http_requests']:4d} req",
            flush=True,
        )
    base = next(r for r, c in zip(rows, candidates, strict=True) if c.baseline)
    digests = {r["digest"] for r in rows if r["digest"]}
    print(f"\n{a.scenario}, RTT {a.rtt} ms, median of {a.repeat} cold processes")
    rate = all("points_per_s" in r["runs"][-1] for r in rows)
    extra = " points/s (ratio) |" if rate else ""
    print(f"| candidate | wall (s) | vs baseline | paired (IQR) | HTTP requests |{extra}")
    print("|---|---|---|---|---|" + ("---|" if rate else ""))
    for r in rows:
        cells = ""
        if rate:
            pps = statistics.median(x["points_per_s"] for x in r["runs"])
            base_pps = statistics.median(x["points_per_s"] for x in base["runs"])
            cells = f" {pps:,.0f} ({pps / base_pps:.1f}x) |"
        low, mid, high = r["paired"]
        print(
            f"| {r['candidate']} | {r['median_s']:.3f} ({r['min_s']:.3f}-{r['max_s']:.3f}) "
            f"| {r['median_s'] / base['median_s']:.2f}x | {mid:.2f}x ({low:.2f}-{high:.2f}) "
            f"| {r['http_requests']} |{cells}"
        )
    for name, reason in left_out.items():
        print(f"| {name} | left out: {reason} | | | |" + (" |" if rate else ""))
    if any(r["candidate"] == "floor" for r in rows):
        print()
        print(floor_table(rows))
    if all("first_s" in r["runs"][-1] for r in rows):
        print()
        print(runs_table(rows, base))
    if all("cogs" in r["runs"][-1] for r in rows):
        print()
        print(rate_table(rows, base))
    if any("cold_s" in r["runs"][-1] for r in rows):
        print()
        print(phase_table(rows, base, left_out))
    agreement = compare(saved, [(r["candidate"], slug(r["candidate"])) for r in rows], base)
    for line in agreement.get("lines", []):
        print(line)
    print(f"outputs agree: {len(digests) <= 1} ({', '.join(sorted(digests))})")
    out = REPO / "bench-results" / f"{a.scenario}-rtt{a.rtt}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "scenario": a.scenario,
                "rtt_ms": a.rtt,
                "repeat": a.repeat,
                "date": time.strftime("%Y-%m-%d"),
                "rows": rows,
                "left_out": left_out,
                "agreement": agreement,
            },
            indent=1,
        )
    )
    if len(digests) > 1 or not agreement.get("ok", True):
        sys.exit("candidates disagree on the pixels they read")


if __name__ == "__main__":
    main()
