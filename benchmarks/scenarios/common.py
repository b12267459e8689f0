"""What every candidate of a scenario shares: the lab's items, the AOI, the jobs, the digest.

Stdlib + numpy only, so the peer's own virtual environment can import it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

AOI_CENTER = (78.0, 20.0)
AOI_HALF_DEG = (0.01224, 0.01157)  # ~2560 m box: ~261 x 261 px at 10 m
BANDS = ("B02", "B03", "B04", "B08")
T0 = time.perf_counter()


def aoi() -> tuple[float, float, float, float]:
    (lon, lat), (hx, hy) = AOI_CENTER, AOI_HALF_DEG
    return (lon - hx, lat - hy, lon + hx, lat + hy)


def items() -> list[dict]:
    return json.loads((Path(os.environ["LAB_DATA"]) / "items.json").read_text())["features"]


def jobs(base_url: str | None = None) -> list[str]:
    """One URL (or local path) per scene x band, in a fixed order."""
    base = base_url or os.environ["LAB_HTTP_URL"]
    return [f"{base}/scenes/{it['id']}/{b}.tif" for it in items() for b in BANDS]


def digest(arrays) -> str:
    """Order-sensitive fingerprint of the arrays read, to assert candidates agree."""
    h = hashlib.sha1()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def report(**fields) -> None:
    """Print the one JSON line the runner reads, and leave without interpreter teardown."""
    fields.setdefault("in_process_s", round(time.perf_counter() - T0, 4))
    print(json.dumps(fields), flush=True)
    sys.stdout.flush()
    os._exit(0)


def report_floor(tool: str, tiles: list, prep_s: float, prep_cpu_s: float) -> None:
    """`report` of a floor candidate: the digest of its ~100 MB of decoded tiles (the
    runner's agreement check, not part of a read) is timed as preparation too."""
    t, cpu = time.perf_counter(), time.process_time()
    decoded = digest(tiles)
    report(
        tool=tool,
        tiles=len(tiles),
        prep_s=round(prep_s + time.perf_counter() - t, 4),
        digest=None,
        prep_cpu_s=round(prep_cpu_s + time.process_time() - cpu, 4),
        decoded_digest=decoded,
    )


def points(n: int, seed: int = 42):
    """n lon/lat points where every scene of the lab overlaps (each point is in every file):
    the common part of the items' bboxes, less 5% at each edge, so the scenario samples n
    points x scenes x bands values whatever the scenes' size."""
    import numpy as np

    boxes = np.array([it["bbox"] for it in items()])
    xmin, ymin = boxes[:, 0].max(), boxes[:, 1].max()
    xmax, ymax = boxes[:, 2].min(), boxes[:, 3].min()
    dx, dy = (xmax - xmin) * 0.05, (ymax - ymin) * 0.05
    rng = np.random.default_rng(seed)
    return rng.uniform(xmin + dx, xmax - dx, n), rng.uniform(ymin + dy, ymax - dy, n)


def scene_ids(n: int) -> list[str]:
    """The ids of the first n scenes of the lab, by date (both UTM zones)."""
    return [it["id"] for it in sorted(items(), key=lambda it: it["properties"]["datetime"])][:n]
