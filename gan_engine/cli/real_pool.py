"""``real-pool``: draw N real images from a dataset into a pool, through the same encoder as ``sample``."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "real-pool",
        help="write N real dataset images (a pool) for a human study or for scoring",
        description="Draw N distinct images of a dataset split, at random with a seed, and write them as a pool "
        "in the same PNG encoding, mode and size as generated pools; the manifest records each image's index.",
    )
    p.add_argument("--dataset", required=True, help="dataset name (see the datasets of --help of train)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--out", required=True, metavar="DIR", help="new pool folder (must be empty or absent)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draw")
    p.add_argument("--split", choices=("train", "test"), default="train", help="dataset split (default: train)")
    p.add_argument("--data-dir", help="folder of the dataset's files (default: its own place)")
    p.add_argument("--image-size", type=int, help="resize to this size (match the generator's output)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from gan_engine.config import DataConfig
    from gan_engine.data import load_dataset
    from gan_engine.errors import ConfigError
    from gan_engine.pool_tensors import write_pool
    from gan_engine.registry import DATASETS

    if args.dataset not in DATASETS:
        raise ConfigError(
            {"--dataset": f"unknown dataset {args.dataset!r}; choose one of {', '.join(DATASETS.names())}"}
        )
    if args.n < 1:
        raise ConfigError({"--n": "must be at least 1"})
    data = load_dataset(
        DataConfig(dataset=args.dataset, data_dir=args.data_dir, image_size=args.image_size), args.split
    )
    if args.n > len(data):
        raise ConfigError({"--n": f"{args.dataset} {args.split} has {len(data)} images, fewer than {args.n}"})
    indices = torch.randperm(len(data), generator=torch.Generator().manual_seed(args.seed))[: args.n].tolist()
    source = {
        "dataset": args.dataset,
        "split": args.split,
        "seed": args.seed,
        "image_size": data.image_size,
        "data_dir": args.data_dir,
    }
    out = write_pool(data.images[indices], args.out, source=source, kind="real", indices=indices)
    print(f"wrote {args.n} real {args.dataset} ({args.split}) images to {out}")
    return 0
