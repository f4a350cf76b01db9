"""``sample``: write a pool of generated images from a checkpoint."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sample",
        help="write N generated images (a pool) from a checkpoint",
        description="Write N PNG images from a checkpoint's generator into a new pool folder, with the "
        "latent seed of every image recorded in the pool's manifest.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--out", required=True, metavar="DIR", help="new pool folder (must be empty or absent)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first image's latent (image i: seed + i)")
    p.add_argument("--batch-size", type=int, help="generator batch (default: the run's batch size)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gan_engine.errors import ConfigError
    from gan_engine.pool_tensors import write_pool
    from gan_engine.sampling import generate, load_generator

    if args.n < 1:
        raise ConfigError({"--n": "must be at least 1"})
    loaded = load_generator(args.checkpoint, args.device)
    batch = args.batch_size or loaded.config.optim.batch_size
    images = generate(loaded, args.n, seed=args.seed, batch_size=batch)
    source = {
        "checkpoint": str(loaded.path.resolve()),
        "step": loaded.step,
        "recipe": loaded.config.recipe,
        "dataset": loaded.config.data.dataset,
        "batch_size": batch,
    }
    out = write_pool(images, args.out, source=source, seeds=list(range(args.seed, args.seed + args.n)))
    print(f"wrote {args.n} images to {out}")
    return 0
