"""Bar charts of the scenario benchmarks' results (bench-results/*.json) for docs/img/.

    uv run python benchmarks/plot.py [RESULTS.json | RESULTS_DIR ...] [--out docs/img]

The TorchGeo cold-start cases go into one figure (`torchgeo-cold.png`: per RTT, each
case's candidates, index + first batch as each process timed it, the speed-up over
RasterDataset on the bars), the steady state into `torchgeo-steady-rtt<N>.png`; every other
scenario, new ones included, gets `<scenario>-rtt<N>.png` from its JSON alone
(`scenario_chart`): median wall time per candidate, ratio to the baseline, requests, and
any per-second rate its runs report.
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


def _rates(rows: list[dict]) -> list[str]:
    """The per-second rates (`points_per_s`, `headers_per_s`, ...) some candidate's runs
    report, in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        keys |= dict.fromkeys(k for k in row["runs"][-1] if k.endswith("_per_s"))
    return list(keys)


def baseline_row(rows: list[dict]) -> dict:
    """The row the ratios divide by; results written before run.py recorded `baseline`
    know it by its paired ratio to itself."""
    return next(r for r in rows if r.get("baseline", list(r["paired"]) == [1.0, 1.0, 1.0]))


def scenario_chart(result: dict, out: Path) -> Path:
    """Any scenario's JSON as `run.py` writes it: per candidate the median whole-process
    wall time (min-max whiskers), the baseline grey, each bar labelled with its ratio to
    the baseline measured in the same run, the HTTP requests under each name; and a panel
    per rate the runs report, with its ratio to the baseline's (log scale when the rates
    span over 100x).

    Nothing here names a scenario: a new one gets its chart from its JSON alone.
    """
    rows = result["rows"]
    base = baseline_row(rows)
    rates = _rates(rows)
    fig, axes = plt.subplots(1, 1 + len(rates), figsize=(6.5 + 4 * len(rates), 3.9), squeeze=False)
    ax = axes[0][0]
    xs = range(len(rows))
    med = [r["median_s"] for r in rows]
    err = [
        [m - r["min_s"] for m, r in zip(med, rows, strict=True)],
        [r["max_s"] - m for m, r in zip(med, rows, strict=True)],
    ]
    colors = ["0.6" if r is base else f"C{k}" for k, r in enumerate(rows)]
    ax.bar(xs, med, yerr=err, capsize=3, color=colors)
    for x, r in zip(xs, rows, strict=True):
        label = "baseline" if r is base else f"{r['median_s'] / base['median_s']:.2f}x"
        ax.annotate(label, (x, r["max_s"]), ha="center", va="bottom", fontsize=8)
    names = [f"{r['candidate']}\n{r['http_requests']:,} req" for r in rows]
    ax.set_xticks(xs, names, fontsize=7)
    ax.set_ylabel("whole process (s): median, min-max")
    ax.margins(y=0.12)
    for ax, key in zip(axes[0][1:], rates, strict=True):
        having = [r for r in rows if key in r["runs"][-1]]
        values = [statistics.median(run[key] for run in r["runs"]) for r in having]
        ax.bar(range(len(having)), values, color=[colors[rows.index(r)] for r in having])
        ref = values[having.index(base)] if base in having else None
        for x, v in enumerate(values):
            label = f"{v:,.0f}" + (f" ({v / ref:,.1f}x)" if ref and having[x] is not base else "")
            ax.annotate(label, (x, v), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(having)), [r["candidate"] for r in having], fontsize=7)
        ax.set_ylabel(f"{key.removesuffix('_per_s').replace('_', ' ')} per second, median")
        if max(values) > 100 * min(values) > 0:
            ax.set_yscale("log")
        ax.margins(y=0.15)
    fig.suptitle(
        f"{result['scenario']}, {result['rtt_ms']} ms round trip: median of "
        f"{result['repeat']} cold processes ({result['date']}, shared 2-core VM)",
        fontsize=10,
    )
    fig.tight_layout()
    path = out / f"{result['scenario']}-rtt{result['rtt_ms']}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def charts(results: list[dict], out: Path) -> list[Path]:
    """The charts of `results`: the TorchGeo cold-start cases together, the steady state,
    and `scenario_chart` for every other scenario."""
    cold = [r for r in results if r["scenario"].startswith("torchgeo-cold-")]
    written = [torchgeo_cold(cold, out)] if cold else []
    for r in results:
        if r["scenario"] == "torchgeo-steady":
            written.append(torchgeo_steady(r, out))
        elif r not in cold:
            written.append(scenario_chart(r, out))
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "results",
        nargs="*",
        type=Path,
        default=[REPO / "bench-results"],
        help="run.py's JSON files, or folders of them (default: bench-results/)",
    )
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    files = [f for p in a.results for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    for path in charts([json.loads(f.read_text()) for f in files], a.out):
        print(path)


if __name__ == "__main__":
    main()
