"""Long-run fuzzing of cogdex's TIFF engine over mutated real headers.

The CI test (tests/tiff/test_tiff_robustness.py) runs a few thousand fixed examples; this
script draws fresh random mutations until a time budget or example count runs out, and
saves every input that breaks the property (see tests/tiff/fuzzing.py) for a regression.

    uv run python scripts/fuzz_tiff.py --minutes 30
    uv run python scripts/fuzz_tiff.py --examples 200000 --seed 7 --out /tmp/fuzz-failures
    uv run python scripts/fuzz_tiff.py --extra path/to/more/seeds/*.tif
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.tiff.fuzzing

from tests.tiff.fuzzing import BOUNDARY, Seed, check, load_seed, mutate, write_seeds


def _edits(rng: random.Random, seed: Seed) -> tuple[list[tuple[int, int, int]], int | None]:
    in_header = rng.random() < 0.85
    lo, hi = (0, seed.header_end - 1) if in_header else (seed.header_end, len(seed.data) - 1)
    edits = []
    for _ in range(rng.randint(1, 8)):
        value = rng.choice(BOUNDARY) if rng.random() < 0.5 else rng.getrandbits(64)
        edits.append((rng.randint(0, 3), rng.randint(lo, hi), value))
    truncate = rng.randint(0, len(seed.data)) if rng.random() < 0.1 else None
    return edits, truncate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget")
    parser.add_argument("--examples", type=int, default=0, help="stop after N (0: no limit)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="failures go here")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more seed TIFFs")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    rng_seed = args.seed if args.seed is not None else time.time_ns()
    rng = random.Random(rng_seed)
    work = Path(tempfile.mkdtemp(prefix="cogdex-fuzz-"))
    seeds = [load_seed(p) for p in [*write_seeds(work / "seeds"), *args.extra]]
    scratch = work / "case.tif"
    deadline = time.monotonic() + args.minutes * 60
    outcomes: Counter[str] = Counter()
    failures = 0
    n = 0
    print(f"fuzzing {len(seeds)} seeds, random seed {rng_seed}", flush=True)
    while time.monotonic() < deadline and (not args.examples or n < args.examples):
        seed = rng.choice(seeds)
        edits, truncate = _edits(rng, seed)
        data = mutate(seed, edits, truncate)
        try:
            outcomes[check(data, scratch)] += 1
        except Exception:  # every escape is a finding
            failures += 1
            args.out.mkdir(parents=True, exist_ok=True)
            case = args.out / f"failure-{rng_seed}-{n}.tif"
            case.write_bytes(data)
            case.with_suffix(".txt").write_text(traceback.format_exc())
            print(f"FAILURE {case}: {traceback.format_exc().splitlines()[-1]}", flush=True)
        n += 1
        if n % 5000 == 0:
            print(f"{n} examples, {failures} failures, {dict(outcomes)}", flush=True)
    print(f"done: {n} examples, {failures} failures, {dict(outcomes)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
