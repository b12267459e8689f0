"""The TorchGeo scenarios' checks and table: first batches compared across candidates, and
the phases each candidate timed in its process (scenarios/torchgeo_common.py).

Equality follows tests/adapters/test_torchgeo_equality.py: in one CRS cogdex's chips and
pixels equal RasterDataset's exactly; across CRSs RasterDataset resamples twice (each file
into a WarpedVRT on GDAL's grid, then onto the chip) where cogdex warps once, so there the
test's tolerances apply on the same chips: under 15 % of the pixels differ, and under 5 % of
those by more than one pixel of position.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

DIFFER_MAX = 0.15
FAR_MAX = 0.05


def _near(image: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Where `other` equals `image` at the same pixel or one of its 8 neighbours."""
    pad = [(0, 0)] * (image.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(image, pad, constant_values=-1.0)
    h, w = image.shape[-2:]
    hit = np.zeros(image.shape, bool)
    for dy in range(3):
        for dx in range(3):
            hit |= padded[..., dy : dy + h, dx : dx + w] == other
    return hit


def compare(folder: Path, names: list[tuple[str, str]], base: dict) -> dict:
    """Each candidate's saved first batch against the baseline's, read on the baseline's
    chips. cogdex's must be equal (one CRS) or within the tolerances (across CRSs); the
    others are reported. Empty where the scenario saves no batches."""
    saved = {n: np.load(folder / f"{s}.npz") for n, s in names if (folder / f"{s}.npz").exists()}
    if base["candidate"] not in saved:
        return {}
    ref = saved[base["candidate"]]
    exact = bool(ref["exact"])
    result: dict = {"ok": True, "exact": exact, "candidates": {}, "lines": []}
    for name, mine in saved.items():
        if name == base["candidate"]:
            continue
        same_steps = np.array_equal(mine["steps"], ref["steps"])
        same_shape = mine["images"].shape == ref["images"].shape
        same_chips = np.array_equal(mine["own_chips"], ref["own_chips"])
        entry = {"same_scenes": same_steps, "same_shape": same_shape, "same_chips": same_chips}
        if same_steps and same_shape:
            differ = mine["images"] != ref["images"]
            n_differ = int(differ.sum())
            far = int((differ & ~_near(mine["images"], ref["images"])).sum())
            entry |= {"pixels": int(differ.size), "differ": n_differ, "far": far}
        held = same_steps and same_shape and "differ" in entry
        if held and exact:
            held = same_chips and entry["differ"] == 0
        elif held:
            held = (
                entry["differ"] / entry["pixels"] < DIFFER_MAX
                and entry["far"] / max(entry["differ"], 1) < FAR_MAX
            )
        if name.startswith("cogdex"):
            entry["asserted"] = True
            result["ok"] &= held
        result["candidates"][name] = entry
        result["lines"].append(_line(name, base["candidate"], entry, exact, held))
    return result


def _line(name: str, base: str, e: dict, exact: bool, held: bool) -> str:
    if not (e["same_scenes"] and e["same_shape"]):
        return f"{name}: other scenes or shape than {base}: not compared"
    share = e["differ"] / e["pixels"]
    far = e["far"] / max(e["differ"], 1)
    rule = "must be equal" if exact else f"< {DIFFER_MAX:.0%} differ, < {FAR_MAX:.0%} of those far"
    verdict = ("holds" if held else "FAILS") if e.get("asserted") else "reported"
    return (
        f"{name} vs {base}: same chips {e['same_chips']}, {e['differ']:,} of {e['pixels']:,} "
        f"pixels differ ({share:.2%}), {far:.1%} of those further than one pixel "
        f"[{rule}: {verdict}]"
    )


def _median(row: dict, key: str) -> float | None:
    values = [r[key] for r in row["runs"] if key in r]
    return statistics.median(values) if values else None


def phase_table(rows: list[dict], base: dict, left_out: dict[str, str]) -> str:
    """Medians of what each process timed inside itself, and the speed-ups over the
    baseline: of the whole process, and of rasteret's measure (index + first batch)."""
    steady = any("chips_per_s_w0" in r["runs"][-1] for r in rows)
    head = (
        "| candidate | process (s) | imports | index + first batch (s) | index | first batch "
        "| warm (2nd call) | speed-up: process / in-process | requests, MB (index + batch) "
        "| index build (s, requests) |"
    )
    if steady:
        head += " chips/s, 0 workers (1st epoch) | chips/s, 2 workers (1st epoch) |"
    lines = [head, _rule(head)]
    base_cold = _median(base, "cold_s")
    for r in rows:
        cold = _median(r, "cold_s")
        build = _median(r, "build_s")
        cells = [
            r["candidate"],
            f"{r['median_s']:.3f}",
            f"{_median(r, 'imported_s'):.2f}",
            f"{cold:.3f}",
            f"{_median(r, 'index_s'):.3f}",
            f"{_median(r, 'first_batch_s'):.3f}",
            f"{_median(r, 'warm_s'):.3f}",
            f"{base['median_s'] / r['median_s']:.1f}x / {base_cold / cold:.1f}x",
            f"{_median(r, 'cold_requests'):.0f}, {_median(r, 'cold_bytes') / 1e6:.1f}",
            "" if build is None else f"{build:.3f}, {_median(r, 'build_requests'):.0f}",
        ]
        if steady:
            cells += [_rate(r, 0), _rate(r, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    for name, reason in left_out.items():
        lines.append(f"| {name} | left out: {reason} |" + " |" * (head.count("|") - 3))
    return "\n".join(lines)


def _rate(row: dict, workers: int) -> str:
    """Second-epoch chips/s (first epoch in brackets), or why the measure failed."""
    rate = _median(row, f"chips_per_s_w{workers}")
    if rate is None:
        failed = [r[f"failed_w{workers}"] for r in row["runs"] if f"failed_w{workers}" in r]
        return f"failed: {failed[-1]}" if failed else ""
    return f"{rate:.1f} ({_median(row, f'epoch1_chips_per_s_w{workers}'):.1f})"


def _rule(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)
