"""Large collections stream through memory: an export or an extend of a 200,000-row table
holds about what pyarrow alone holds to write the same rows (for an extend: read back from a
file), never a second copy of the table.

Each write runs in a fresh process whose peak RSS (Linux VmHWM) is reset once its input
table is resident; the bound is loose (half the table on top of the plain write's peak), so
machine noise passes and a whole-table copy (a sort, a concat, a filter) fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cogdex

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak RSS reset"
)

ROWS = 200_000

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import cogdex

    seed, case, out, n = sys.argv[1:5]
    n = int(n)

    def rows(n, first):
        # the seed's records repeated in a shuffled order (not the file's), each its own id
        table = cogdex.load(seed).to_arrow()
        pick = np.random.default_rng(first).integers(0, len(table), n)
        table = table.take(pa.array(pick))
        ids = pa.array([f"s{k:07d}" for k in range(first, first + n)])
        return table.set_column(0, "id", ids)

    def peak():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    table = rows(n, 0)
    nbytes = table.nbytes
    other = rows(n // 10, n - 1000)  # 1,000 of its ids replace existing ones
    if case.endswith("extend"):  # the table as read back from a file, not built in memory
        pq.write_table(table, out + ".in.parquet", row_group_size=2048)
        table = (pq.read_table if case == "plain-extend" else cogdex.load)(out + ".in.parquet")
    pa.default_memory_pool().release_unused()
    Path("/proc/self/clear_refs").write_text("5")
    if case.startswith("plain"):  # the same rows written by pyarrow alone
        rows_written = pa.concat_tables([table, other]) if case == "plain-extend" else table
        pq.write_table(rows_written, out, row_group_size=2048, compression="zstd")
    elif case == "export":
        cogdex.as_collection(table).export(out)
    else:
        table.extend(other).export(out)
    print(json.dumps({"peak": peak(), "nbytes": nbytes}))
    """
)


def _peak(seed: str, case: str, out: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, seed, case, str(out), str(ROWS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seed(stac_files, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("memory")
    coll = cogdex.build_from_stac(
        stac_files.items_json, name="seed", bands=["B04", "B08"], cache_dir=folder / "cache"
    )
    return coll.export(folder / "seed.parquet")


@pytest.mark.parametrize("case", ["export", "extend"])
def test_a_large_write_stays_near_a_plain_pyarrow_write(seed, case, tmp_path):
    # An extend reads its table from a file and writes the other table's rows too: pyarrow
    # alone reads and writes the same rows for reference.
    plain = _peak(seed, "plain-extend" if case == "extend" else "plain", tmp_path / "plain.parquet")
    measured = _peak(seed, case, tmp_path / f"{case}.parquet")
    assert measured["peak"] < plain["peak"] + plain["nbytes"] / 2, (measured, plain)
    assert len(cogdex.load(tmp_path / f"{case}.parquet")) == ROWS + (ROWS // 10 - 1000) * (
        case == "extend"
    )
