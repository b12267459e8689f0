"""Bar charts of the scenario benchmarks' results (bench-results/*.json) for docs/img/.

    uv run python benchmarks/plot.py [RESULTS_DIR] [--out docs/img]

The TorchGeo cold-start cases go into one figure (`torchgeo-cold.png`: per RTT, each
case's candidates, index + first batch as each process timed it, the speed-up over
RasterDataset on the bars), the steady state into `torchgeo-steady.png`; every other
scenario gets the median wall time of its candidates (min-max whiskers),
`<scenario>-rtt<N>.png`, and where each process ran its workflow twice (the NDVI time
series) the first and the subsequent run beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "1aoi": "one AOI, 15 scenes",
    "5aoi": "five AOIs, 30 scenes",
    "crosscrs": "cross-CRS, 12 scenes",
}
BASELINE = "RasterDataset (GDAL)"


def _median(row: dict, key: str) -> float | None:
    values = [r[key] for r in row["runs"] if key in r]
    return statistics.median(values) if values else None


def _candidates(results: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for res in results:
        seen |= dict.fromkeys(r["candidate"] for r in res["rows"])
    return list(seen)


def torchgeo_cold(results: list[dict], out: Path) -> Path:
    """Index (hatched) + first batch per candidate, one panel per RTT."""
    rtts = sorted({r["rtt_ms"] for r in results})
    names = _candidates(results)
    fig, axes = plt.subplots(1, len(rtts), figsize=(6.5 * len(rtts), 4.6), squeeze=False)
    width = 0.8 / len(names)
    for ax, rtt in zip(axes[0], rtts, strict=True):
        runs = {
            r["scenario"].removeprefix("torchgeo-cold-"): r for r in results if r["rtt_ms"] == rtt
        }
        cases = [c for c in CASES if c in runs]
        for k, name in enumerate(names):
            for i, case in enumerate(cases):
                rows = {row["candidate"]: row for row in runs[case]["rows"]}
                if name not in rows:
                    continue
                row, x = rows[name], i + (k - (len(names) - 1) / 2) * width
                index, batch = _median(row, "index_s"), _median(row, "first_batch_s")
                color = f"C{k}"
                ax.bar(x, index, width, color=color, alpha=0.55, hatch="//", edgecolor="white")
                ax.bar(x, batch, width, bottom=index, color=color, label=name if i == 0 else None)
                base = _median(rows[BASELINE], "cold_s")
                if name != BASELINE:
                    ax.annotate(
                        f"{base / _median(row, 'cold_s'):.0f}x",
                        (x, index + batch),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.set_xticks(range(len(cases)), [CASES[c] for c in cases])
        ax.set_ylabel("index + first batch (s), median of cold processes")
        ax.set_title(f"TorchGeo cold start, {rtt} ms round trip")
    axes[0][0].legend(fontsize=8, title="hatched: index (built, or loaded)", title_fontsize=7)
    fig.tight_layout()
    path = out / "torchgeo-cold.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def torchgeo_steady(result: dict, out: Path) -> Path:
    """Chips per second, first epoch (light) and second (caches warm), 0 and 2 workers."""
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = result["rows"]
    bars = [(w, e) for w in (0, 2) for e in (1, 2)]
    width = 0.8 / len(bars)
    for k, (workers, epoch) in enumerate(bars):
        key = f"epoch1_chips_per_s_w{workers}" if epoch == 1 else f"chips_per_s_w{workers}"
        xs = [i + (k - (len(bars) - 1) / 2) * width for i in range(len(rows))]
        ys = [_median(r, key) or 0.0 for r in rows]
        label = f"{workers} workers, epoch {epoch}"
        ax.bar(
            xs, ys, width, label=label, color=f"C{workers // 2}", alpha=0.45 if epoch == 1 else 1
        )
    ax.set_xticks(range(len(rows)), [r["candidate"] for r in rows], fontsize=8)
    ax.set_ylabel("chips/s")
    ax.set_title(f"TorchGeo training loop, {result['rtt_ms']} ms round trip")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"torchgeo-steady-rtt{result['rtt_ms']}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def wall_times(result: dict, out: Path) -> Path:
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    med = [r["median_s"] for r in rows]
    err = [
        [m - r["min_s"] for m, r in zip(med, rows, strict=True)],
        [r["max_s"] - m for m, r in zip(med, rows, strict=True)],
    ]
    ax.bar(range(len(rows)), med, yerr=err, capsize=3, color="C0")
    ax.set_xticks(range(len(rows)), [r["candidate"] for r in rows], fontsize=8, rotation=15)
    ax.set_ylabel("whole process (s), median")
    ax.set_title(f"{result['scenario']}, {result['rtt_ms']} ms round trip")
    fig.tight_layout()
    path = out / f"{result['scenario']}-rtt{result['rtt_ms']}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def first_subsequent(result: dict, out: Path) -> Path:
    """Whole process, and the workflow's first and subsequent run inside it (medians)."""
    rows = result["rows"]
    bars = [
        ("whole process", [r["median_s"] for r in rows]),
        ("first run", [_median(r, "first_s") or 0.0 for r in rows]),
        ("subsequent run", [_median(r, "subsequent_s") or 0.0 for r in rows]),
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(bars)
    for k, (label, ys) in enumerate(bars):
        xs = [i + (k - (len(bars) - 1) / 2) * width for i in range(len(rows))]
        ax.bar(xs, ys, width, label=label, color=f"C{k}")
    ax.set_xticks(range(len(rows)), [r["candidate"] for r in rows], fontsize=8)
    ax.set_ylabel("seconds, median of cold processes")
    ax.set_title(f"{result['scenario']}, {result['rtt_ms']} ms round trip")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{result['scenario']}-rtt{result['rtt_ms']}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("results", nargs="?", type=Path, default=REPO / "bench-results")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    results = [json.loads(p.read_text()) for p in sorted(a.results.glob("*.json"))]
    cold = [r for r in results if r["scenario"].startswith("torchgeo-cold-")]
    written = [torchgeo_cold(cold, a.out)] if cold else []
    for r in results:
        if r["scenario"] == "torchgeo-steady":
            written.append(torchgeo_steady(r, a.out))
        elif all("first_s" in row["runs"][-1] for row in r["rows"]):
            written.append(first_subsequent(r, a.out))
        elif not r["scenario"].startswith("torchgeo-"):
            written.append(wall_times(r, a.out))
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
