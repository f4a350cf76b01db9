"""``train-scorer``: train a dataset's domain scorer (the offline network behind IS and FID)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train-scorer",
        help="train the per-dataset CNN used as an offline IS/FID network",
        description="Train <dataset>_cnn on the dataset's train split, measure its test accuracy, and store its "
        "weights with a JSON sidecar (test accuracy, SHA-256) in the scorer folder (GAN_SCORER_DIR or "
        "~/.cache/gan_engine/scorers). Nothing is stored below --min-accuracy.",
    )
    p.add_argument("--dataset", default="fashion_mnist", help="dataset name (default: fashion_mnist)")
    p.add_argument("--out", metavar="DIR", help="scorer folder (default: GAN_SCORER_DIR or the cache)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training split (default: 3)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="folder of the dataset's files (default: its own place)")
    p.add_argument("--limit", type=int, help="train on the first N training images only (quick checks)")
    p.add_argument("--min-accuracy", type=float, default=0.9, help="refuse to store below this test accuracy")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads (default: torch's); on a busy shared machine 1 is often fastest for this small net",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from gan_engine.metrics.domain_scorer import paths, train

    if args.threads:
        torch.set_num_threads(args.threads)

    def report(epoch: int, loss: float, seconds: float) -> None:
        print(f"epoch {epoch}/{args.epochs}: loss {loss:.4f} ({seconds:.0f}s)", file=sys.stderr, flush=True)

    meta = train(
        args.dataset,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        data_dir=args.data_dir,
        limit=args.limit,
        min_accuracy=args.min_accuracy,
        on_epoch=report,
    )
    weights, _ = paths(meta["name"], args.out)
    print(
        f"{meta['name']}: test accuracy {100 * meta['test_accuracy']:.2f}% after {meta['train_seconds']:.0f}s; "
        f"stored {weights} (SHA-256 {meta['sha256']})"
    )
    return 0
