"""benchmarks/plot.py draws the charts of docs/benchmarks.md from run.py's JSON: rows made by
run.py's own summary functions must chart, every scenario to its own file, a valid PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib import image

from benchmarks import plot, run


def _result(scenario: str, rtt: int, walls: dict[str, list[float]], **fields: list[dict]) -> dict:
    """A results JSON as run.py writes it: the first candidate is the baseline; `fields`
    adds per-run values (rates, phases) to a candidate's runs."""
    names = list(walls)
    runs = {
        name: [
            {"wall_s": w, "http_requests": 4 * k, "http_bytes": 0, **fields[name][k]}
            if name in fields
            else {"wall_s": w, "http_requests": 4 * k, "http_bytes": 0}
            for k, w in enumerate(ws)
        ]
        for name, ws in walls.items()
    }
    rows = [run.summarize(name, runs[name]) for name in names]
    for row in rows:
        row["paired"] = run.paired_ratio(row["runs"], runs[names[0]])
        row["baseline"] = row["candidate"] == names[0]
    return {
        "scenario": scenario,
        "rtt_ms": rtt,
        "repeat": len(walls[names[0]]),
        "date": "2026-12-06",
        "rows": rows,
        "left_out": {},
    }


def _cold(case: str, rtt: int) -> dict:
    def phases(cold: float) -> list[dict]:
        return [{"index_s": cold / 3, "first_batch_s": 2 * cold / 3, "cold_s": cold}] * 3

    return _result(
        f"torchgeo-cold-{case}",
        rtt,
        {plot.BASELINE: [3.0, 3.1, 2.9], "cogdex": [0.5, 0.6, 0.55]},
        **{plot.BASELINE: phases(3.0), "cogdex": phases(0.2)},
    )


def _png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    return image.imread(path)


def test_every_scenario_gets_its_own_chart(tmp_path: Path) -> None:
    points = [{"points_per_s": v} for v in (9.0, 10.0, 11.0)]
    results = [
        _cold("1aoi", 60),
        _cold("crosscrs", 60),
        _cold("1aoi", 20),
        _result("get-numpy", 20, {"rasteret": [1.1, 1.2, 1.0], "cogdex": [0.6, 0.7, 0.6]}),
        _result(
            "sample-points",
            20,
            {"rasterio": [5.0, 5.0, 5.0], "cogdex": [4.0, 4.2, 4.1]},
            rasterio=points,
            cogdex=[{"points_per_s": v} for v in (2e5, 2.1e5, 1.9e5)],
        ),
    ]
    json.loads(json.dumps(results))  # what run.py writes is plain JSON
    written = plot.charts(results, tmp_path)
    assert sorted(p.name for p in written) == [
        "get-numpy-rtt20.png",
        "sample-points-rtt20.png",
        "torchgeo-cold.png",
    ]
    # The cold-start figure has a panel per RTT; the points chart a panel for its rate.
    numpy_chart, points_chart, cold = (_png(tmp_path / n) for n in sorted(p.name for p in written))
    assert cold.shape[1] > numpy_chart.shape[1]
    assert points_chart.shape[1] > numpy_chart.shape[1]


def test_the_baseline_of_results_written_before_run_py_named_it(tmp_path: Path) -> None:
    """Older JSON has no `baseline` field: its baseline is the row whose paired ratio to
    itself is 1; the chart marks that row, not the first."""
    result = _result("window-read", 20, {"rasterio": [2.0, 2.0], "cogdex": [1.0, 1.0]})
    result["rows"].reverse()
    for row in result["rows"]:
        del row["baseline"]
    assert plot.baseline_row(result["rows"])["candidate"] == "rasterio"
    assert _png(plot.scenario_chart(result, tmp_path)).size > 0


def test_steady_state_chart(tmp_path: Path) -> None:
    keys = ("epoch1_chips_per_s_w0", "chips_per_s_w0", "epoch1_chips_per_s_w2", "chips_per_s_w2")
    rates = [dict.fromkeys(keys, 100.0)] * 2
    result = _result(
        "torchgeo-steady", 20, {plot.BASELINE: [9.0, 9.0], "cogdex": [4.0, 4.0]},
        **{plot.BASELINE: rates, "cogdex": rates},
    )  # fmt: skip
    (path,) = plot.charts([result], tmp_path)
    assert path.name == "torchgeo-steady-rtt20.png"
    _png(path)
