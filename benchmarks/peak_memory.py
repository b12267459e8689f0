"""Peak memory of `get_numpy` relative to the array it returns, each case in a fresh process.

    uv run python benchmarks/peak_memory.py [--data /tmp/cogdex-peak] [--size 2048]

Writes (once) synthetic scenes with `cogdex.testing.scenes` (uint16, deflate + predictor, two
bands, tiles in UTM 43N and 44N) and an index over their local paths, then reads a block of
the western tile that no eastern scene covers: "aligned" on the scenes' own grid, "warped"
onto EPSG:32644 (every record resampled), each with merge=None (one image per record) and
merge="first" (all records into one). Each case runs in a fresh process and reports the
tracemalloc peak of the call (numpy registers its buffers with tracemalloc; peak RSS is
too coarse at these sizes: the imports' high-water mark hides the read) divided by the
output's nbytes, with the default tile cache and with it off (COGDEX_TILE_CACHE_MB=0),
which shows what the read itself holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

CASES = {"aligned": 32643, "warped": 32644}
MERGES = ("none", "first")
BANDS = ["B04", "B08"]


def prepare(root: Path, size: int, n: int) -> dict[str, object]:
    """The index location and the block read (EPSG:32643) over `n` scenes of `size` px
    under `root`, written once."""
    import cogdex
    from cogdex.testing import scenes as data

    meta = root / "block.json"
    if not meta.exists():
        scenes = data.write_scenes(root, n, size)
        items = data.write_item_collection(scenes, root, root.resolve().as_uri())
        coll = cogdex.build_from_stac(items, name="peak", bands=BANDS, cache_dir=root / "index",
                                      force=True, progress=False)  # fmt: skip
        res, _, ulx, _, _, uly = next(s for s in scenes if s.epsg == 32643).transform
        extent = size * res
        block = [ulx + 0.02 * extent, uly - 0.95 * extent, ulx + 0.38 * extent, uly - 0.05 * extent]
        meta.write_text(json.dumps({"index": str(coll.location), "block": block}))
    return json.loads(meta.read_text())


def measure(index: str, block: list[float], case: str, merge: str) -> dict[str, object]:
    """One read in this process: its peaks over the output's nbytes."""
    import shapely

    import cogdex

    coll = cogdex.load(index)
    area = shapely.box(*block)
    kwargs = dict(geometry_crs=32643, crs=CASES[case], resolution=10.0, max_memory=None,
                  merge=None if merge == "none" else merge, group_by=None)  # fmt: skip
    small = shapely.box(block[0], block[1], block[0] + 640, block[1] + 640)
    coll.get_numpy(small, BANDS, **kwargs)  # imports and first-use costs, outside the peak
    tracemalloc.start()
    out = coll.get_numpy(area, BANDS, **kwargs)
    traced = tracemalloc.get_traced_memory()[1]
    return {"shape": list(out.shape), "nbytes": int(out.nbytes),
            "peak": traced / out.nbytes}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cogdex-peak"))
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "MERGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup = prepare(args.data, args.size, args.scenes)
    if args.child:
        print(json.dumps(measure(setup["index"], setup["block"], *args.child)))
        return
    print(f"{'case':8} {'merge':6} {'cache':6} {'output':>10} {'peak/output':>12}")
    for case in CASES:
        for merge in MERGES:
            for cache in ("512", "0"):
                env = {**os.environ, "COGDEX_TILE_CACHE_MB": cache}
                argv = [sys.executable, __file__, "--data", str(args.data), "--child", case, merge]
                done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{case:8} {merge:6} {cache + ' MB':6} {r['nbytes'] / 2**20:8.1f} MB "
                      f"{r['peak']:11.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
