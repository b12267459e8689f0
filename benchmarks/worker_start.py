"""How long a 2-worker DataLoader takes from `iter()` to a batch from each worker, per start
method, after the parent has read through obstore (so a forked worker loads its private
copy of obstore, see cogdex.io.runtime). Measures whether `forkserver` or `spawn` workers
could replace that workaround at no cost; docs/data-plane.md quotes the result.

    uv run python benchmarks/worker_start.py [--repeats 5]

Local file reads only: the start-up is measured, not the network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from cogdex.io import fetch, runtime

METHODS = ("fork", "forkserver", "spawn")
WORKERS = 2


class Ranges(Dataset[torch.Tensor]):
    """Item i: 64 KiB of `path` at offset i * 64 KiB, read through cogdex's fetch layer."""

    def __init__(self, path: str, items: int) -> None:
        self.path = path
        self.items = items

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> torch.Tensor:
        start = i * 65536
        (part,) = runtime.run(fetch.read_ranges(self.path, [(start, start + 65536)]))
        return torch.frombuffer(bytearray(bytes(part)), dtype=torch.uint8)


def first_batches_s(dataset: Ranges, method: str) -> float:
    """Seconds from `iter(loader)` to one batch from each worker (a cold epoch start)."""
    loader = DataLoader(dataset, batch_size=1, num_workers=WORKERS, multiprocessing_context=method)
    start = time.perf_counter()
    batches = iter(loader)
    for _ in range(WORKERS):  # batches come round-robin: one from each worker
        next(batches)
    elapsed = time.perf_counter() - start
    del batches  # stops the workers before the next measurement
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob.bin"
        path.write_bytes(os.urandom(16 * 65536))
        dataset = Ranges(str(path), 16)
        dataset[0]  # the parent reads first: its obstore runtime is live, as in training
        for method in METHODS:
            times = [first_batches_s(dataset, method) for _ in range(args.repeats)]
            print(
                f"{method:>10}: median {statistics.median(times) * 1000:7.0f} ms "
                f"(of {args.repeats}: {', '.join(f'{t * 1000:.0f}' for t in times)})"
            )


if __name__ == "__main__":
    main()
