"""Peak memory of index writes (export, extend, build) against a plain `pq.write_table` of
the same table, each case in a fresh process.

    uv run python benchmarks/index_memory.py [--rows 100000] [--before TREE]

Data (made once under --data): an index of --rows scenes cut from the synthetic 500k index
(`benchmarks/make_synthetic_index.py`: real headers of 10980-px COGs, ~4.5 kB a row in
Arrow), a tenth as many other scenes to `extend` it with, and a table of --build-rows rows
whose four href columns name the lab's 2048-px COGs (/tmp/labdata/mid) for
`build_from_table`. Each case reports the peak RSS of its call (Linux VmHWM, reset after
the imports and after its input table is read, so the input table resident in memory
counts and how it was read does not) and its ratio to a plain write of the same rows in the
same run (the table read as `_read` reads it, then written):

- write: `pq.read_table` of the index, then `pq.write_table` (2,048-row groups, zstd);
- export: the same table with its row groups shuffled (not in file order, as a table made
  elsewhere is), `cogdex.as_collection(table).export(...)`;
- load-export: `cogdex.load(index).export(...)`;
- extend: `cogdex.load(index).extend(other).export(...)`, against a plain write of its output;
- build: `cogdex.build_from_table(...)`, against a plain write of the index it wrote.

`--before TREE` runs the cogdex cases a second time with another checkout's
`packages/core/src` first on the path (e.g. `git archive main packages/core/src | tar -x -C
/tmp/before`), so a change is compared in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SYNTH = Path("/tmp/cogdex-bench/synth500k-cogdex")
SCENES = Path("/tmp/labdata/mid")
BANDS = ("B02", "B03", "B04", "B08")


def prepare(data: Path, rows: int, build_rows: int) -> None:
    """The index, the rows to extend it with and the table to build from, written once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import cogdex
    from cogdex.index.store import ROW_GROUP_ROWS

    data.mkdir(parents=True, exist_ok=True)
    files = sorted(SYNTH.glob("*.parquet"))
    if not (data / "index").exists():
        per_file = -(-rows // len(files) // ROW_GROUP_ROWS)
        parts = [pq.ParquetFile(f).read_row_groups(range(per_file)) for f in files]
        table = pa.concat_tables(parts).slice(0, rows)
        cogdex.as_collection(table).export(data / "index", partition=True)
    if not (data / "other.parquet").exists():
        last = pq.ParquetFile(files[-1])
        groups = -(-rows // 10 // ROW_GROUP_ROWS)
        other = last.read_row_groups(range(last.num_row_groups - groups, last.num_row_groups))
        pq.write_table(other.slice(0, rows // 10), data / "other.parquet")
    if not (data / "build.parquet").exists():
        scenes = sorted(p.name for p in (SCENES / "scenes").iterdir())
        pick = np.arange(build_rows) % len(scenes)
        days = np.datetime64("2024-01-01", "us") + np.arange(build_rows).astype("timedelta64[m]")
        columns = {
            "id": pa.array([f"row-{k:07d}" for k in range(build_rows)]),
            "datetime": pa.array(days).cast(pa.timestamp("us", tz="UTC")),
        }
        for band in BANDS:
            names = [str(SCENES / "scenes" / scenes[k] / f"{band}.tif") for k in pick]
            columns[band] = pa.array(names)
        pq.write_table(pa.table(columns), data / "build.parquet")


def _read(path: Path, shuffled: bool = False) -> object:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    parts = []
    rng = np.random.default_rng(0)
    for f in files:
        handle = pq.ParquetFile(f)
        groups = np.arange(handle.num_row_groups)
        if shuffled:
            rng.shuffle(groups)
        # group by group: a whole file's read holds several times the table while decoding
        parts += [handle.read_row_group(int(g)) for g in groups]
    return pa.concat_tables(parts)


def _reset_peak() -> None:
    """Start the peak RSS afresh from what is resident now (Linux: clear_refs 5), after
    handing Arrow's freed pool memory back, so a case counts its input table but not the
    transient memory of how that table was read."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    Path("/proc/self/clear_refs").write_text("5")


def _peak() -> int:
    """The peak RSS since `_reset_peak`, in bytes (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_case(case: str, data: Path, out: Path) -> dict[str, object]:
    """One case in this process: its input made, then the peak RSS of the call measured
    (the input table resident in it, for the cases given a table)."""
    import pyarrow.parquet as pq

    import cogdex

    cogdex.load(data / "index")  # imports, outside the peak
    if case.startswith("write:"):
        table = _read(Path(case.split(":", 1)[1]))
        _reset_peak()
        pq.write_table(table, out, row_group_size=2048, compression="zstd")
        rows = table.num_rows
    elif case == "export":
        table = _read(data / "index", shuffled=True)
        _reset_peak()
        location = cogdex.as_collection(table).export(out)
    elif case == "load-export":
        _reset_peak()
        location = cogdex.load(data / "index").export(out)
    elif case == "extend":
        other = pq.read_table(data / "other.parquet")
        _reset_peak()
        location = cogdex.load(data / "index").extend(other).export(out)
    elif case == "build":
        source = data / "build.parquet"
        _reset_peak()
        location = cogdex.build_from_table(
            source, name="memory", href_columns=list(BANDS), cache_dir=out, progress=False
        ).location
    else:
        raise SystemExit(f"unknown case {case}")
    peak = _peak()
    if not case.startswith("write:"):
        rows = len(cogdex.load(location))
    return {"case": case, "rows": rows, "peak": peak}


def child(case: str, data: Path, out: Path, before: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    if before is not None:
        env["PYTHONPATH"] = str(before / "packages" / "core" / "src")
    argv = [sys.executable, __file__, "--data", str(data), "--child", case, str(out)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cogdex-bench/index-memory"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--build-rows", type=int, default=50_000)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--cases", default="export,load-export,extend,build")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # --data is the case's own folder
        print(json.dumps(run_case(args.child[0], args.data, Path(args.child[1]))))
        return
    data = args.data / f"{args.rows}-{args.build_rows}"
    import shutil

    prepare(data, args.rows, args.build_rows)
    work = data / "out"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    trees = [("now", None)] + ([("before", args.before)] if args.before else [])
    results = []
    for label, tree in trees:
        for case in args.cases.split(","):
            out = work / f"{label}-{case}"
            r = child(case, data, out, tree)
            written = out / "collections" / "memory.parquet" if case == "build" else out
            plain = child(f"write:{written}", data, work / f"{label}-{case}-plain.parquet", None)
            results.append({**r, "label": label, "plain": plain["peak"]})
            print(f"{label:6} {case:12} {r['rows']:>9} rows  peak {r['peak'] / 2**20:7.0f} MB  "
                  f"plain write {plain['peak'] / 2**20:7.0f} MB  "
                  f"{r['peak'] / plain['peak']:.2f}x", flush=True)  # fmt: skip
    (args.data / f"results-{args.rows}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
