"""Filtering a large index without loading it: load + filter time, peak RSS and row groups
read, each case in a fresh process.

    uv run python benchmarks/index_pushdown.py INDEX [--repeat 3]

INDEX is a cogdex index made by `benchmarks/make_synthetic_index.py` (e.g. 10,000,000
scenes: `... cogdex /tmp/seed-cogdex /tmp/cogdex-bench/big --n 10000000`). The query: the
scenes of 2022 whose bbox meets a 0.5 x 0.5 degree area and whose cloud cover is below 20 %,
their headers included. Cases:

- where: `cogdex.load(INDEX).where(expression)` (row groups pruned by their statistics);
- subset: `cogdex.load(INDEX).subset(bbox=..., date_range=..., cloud_cover_lt=...)`;
- dataset: `pyarrow.dataset` over the same files with the same filter (Arrow's own pushdown);
- whole: every row without the headers (`pq.read_table(..., columns=...)`), then filtered;
  with the headers the table would not fit in memory (~4.5 kB a row in Arrow).

The times are whole-process wall times (interpreter and imports included), the peaks are
`ru_maxrss`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

AREA = (20.0, 50.0, 20.5, 50.5)
YEAR = (dt.datetime(2022, 1, 1, tzinfo=dt.UTC), dt.datetime(2022, 12, 31, 23, 59, tzinfo=dt.UTC))
CLOUD = 20.0


def _expression() -> object:
    import pyarrow.compute as pc

    xmin, ymin, xmax, ymax = AREA
    box = (pc.field("bbox", "xmin") <= xmax) & (pc.field("bbox", "xmax") >= xmin)
    box &= (pc.field("bbox", "ymin") <= ymax) & (pc.field("bbox", "ymax") >= ymin)
    when = (pc.field("datetime") >= YEAR[0]) & (pc.field("datetime") <= YEAR[1])
    return box & when & (pc.field("cloud_cover") < CLOUD)


def run_case(case: str, index: Path) -> dict[str, object]:
    import resource

    groups = 0
    if case in ("where", "subset"):
        import cogdex
        from cogdex.index import store

        original = store.IndexFiles._row_group

        def counted(self, handle, number, group, columns):  # counts the row groups read
            nonlocal groups
            groups += 1
            return original(self, handle, number, group, columns)

        store.IndexFiles._row_group = counted
        coll = cogdex.load(index)
        if case == "where":
            found = coll.where(_expression())
        else:
            found = coll.subset(bbox=AREA, date_range=YEAR, cloud_cover_lt=CLOUD)
        table = found.to_arrow()
    elif case == "dataset":
        import pyarrow.dataset as ds

        table = ds.dataset(sorted(map(str, index.glob("*.parquet")))).to_table(filter=_expression())
    elif case == "whole":
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = sorted(index.glob("*.parquet"))
        light = [n for n in pq.read_schema(files[0]).names if n != "assets"]
        whole = pa.concat_tables(pq.read_table(f, columns=light) for f in files)
        table = whole.filter(_expression())
    else:
        raise SystemExit(f"unknown case {case}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ids = sorted(table.column("id").to_pylist())
    return {"case": case, "rows": len(ids), "ids": ids, "groups": groups, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="where,subset,dataset,whole")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, args.index)))
        return
    import pyarrow.parquet as pq

    files = sorted(args.index.glob("*.parquet"))
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in files)
    print(f"{args.index}: {total:,} rows in {groups:,} row groups, {len(files)} files")
    cases = args.cases.split(",")
    runs: dict[str, list[dict[str, object]]] = {c: [] for c in cases}
    for _ in range(args.repeat):  # round-robin, so the machine's drift falls on all alike
        for case in cases:
            start = time.perf_counter()
            argv = [sys.executable, __file__, str(args.index), "--child", case]
            done = subprocess.run(argv, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[case].append({**result, "seconds": time.perf_counter() - start})
    ids = {c: runs[c][0]["ids"] for c in cases}
    assert all(v == ids[cases[0]] for v in ids.values()), "the cases found other scenes"
    for case in cases:
        seconds = statistics.median(float(r["seconds"]) for r in runs[case])
        peak = max(int(r["peak"]) for r in runs[case])
        first = runs[case][0]
        read = f"{first['groups']} row groups read" if first["groups"] else ""
        print(f"{case:8} {first['rows']:>5} scenes  {seconds:6.2f} s  peak {peak / 2**20:7.0f} MB  "
              f"{read}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
