"""Train a tiny model on chips of a cogdex collection with DistributedDataParallel.

    torchrun --nnodes=1 --nproc_per_node=4 train_ddp.py s2.parquet --bands B04 B08

torchrun starts one process (rank) per GPU, on every node; each runs this file. Each rank
loads the index (a local copy or a URL: no header is read, the parsed headers are in it),
makes its own dataset, and reads its share of the epoch's chips (`DistributedGeoSampler`
over a TorchGeo grid) through DataLoader workers, each with its own object stores and event
loop. DDP averages the gradients across ranks, so every rank holds the same weights.

The model learns the second band (NIR) from the first (red). `--record DIR` also writes,
per rank, what it read and learnt (tests/adapters/test_torchgeo_ddp.py checks it): see
docs/torchgeo.md, "Training on several GPUs or nodes".
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torchgeo.datasets import stack_samples
from torchgeo.samplers import GriddedPatchSampler

import cogdex
from cogdex_torchgeo import DistributedGeoSampler


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", help="a cogdex index: a file, folder or object-store URL")
    parser.add_argument("--bands", nargs=2, default=["B04", "B08"], metavar=("RED", "NIR"))
    parser.add_argument("--chip", type=int, default=256, help="chip size in pixels")
    parser.add_argument("--stride", type=int, default=None, help="grid stride in pixels")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers per rank")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--record", type=Path, help="write each rank's chips, losses, weights")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address for each rank.
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device(f"cuda:{os.environ['LOCAL_RANK']}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)

    # Store options (or the environment: AWS_*, a role, ...) reach every rank as they reach
    # any process; the dataset pickles them with its headers into the DataLoader workers.
    collection = cogdex.load(args.index)
    dataset = collection.to_torchgeo_dataset(args.bands)
    stride = args.stride or args.chip
    grid = GriddedPatchSampler(
        dataset, size=args.chip, stride=stride
    )  # the same chips in every rank
    sampler = DistributedGeoSampler(grid, shuffle=True, seed=0)  # this rank's share
    loader = DataLoader(
        dataset,
        sampler=sampler,
        batch_size=args.batch_size,
        collate_fn=stack_samples,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 3, padding=1)
    ).to(device)
    initial = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    model = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    losses: list[float] = []
    seen: list[list[dict[str, torch.Tensor]]] = []
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle of the grid, the same in every rank
        seen.append([])
        for batch in loader:
            image = batch["image"].to(device) / 10_000
            red, nir = image[:, :1], image[:, 1:]
            loss = torch.nn.functional.mse_loss(model(red), nir)
            optimizer.zero_grad()
            loss.backward()  # DDP averages the gradients across ranks here
            optimizer.step()
            losses.append(loss.item())
            if args.record:
                seen[-1].append({"bounds": batch["bounds"], "image": batch["image"]})
    print(f"rank {rank}: {len(losses)} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}")

    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        record = {
            "world_size": dist.get_world_size(),
            "epochs": [
                {key: torch.cat([b[key] for b in batches]) for key in ("bounds", "image")}
                for batches in seen
            ],
            "losses": losses,
            "initial": initial,
            "weights": {k: v.cpu() for k, v in model.module.state_dict().items()},
        }
        torch.save(record, args.record / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
