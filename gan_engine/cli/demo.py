"""``demo``: the README's first command. Trains a small model on Fashion-MNIST on the CPU and
writes a sample grid, with nothing but the embedded defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

from gan_engine.specs.improved_gan import DEMO


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="train a small model on Fashion-MNIST on the CPU and write a sample grid")
    p.add_argument("--out", default="var/demo", help="demo folder (default var/demo)")
    p.add_argument("--steps", type=int, default=DEMO["optim"]["steps"], help="training steps")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gan_engine.cli.common import ProgressPrinter
    from gan_engine.config import build_config
    from gan_engine.run_folder import grid_path, grid_steps
    from gan_engine.training.checkpoint import latest_checkpoint
    from gan_engine.training.loop import train

    run_dir = Path(args.out) / "run"
    config = build_config("improved_gan_ssl", {**DEMO, "optim": {"steps": args.steps}})
    resume = latest_checkpoint(run_dir)  # a second demo continues the first rather than redoing it
    result = train(config, run_dir, on_progress=ProgressPrinter(), resume=resume)
    grid = grid_path(run_dir, grid_steps(run_dir)[-1])
    error = result.last.metrics.get("test_error") if result.last else None
    print(f"\nsample grid: {grid}")
    if error is not None:
        print(f"test error with 100 labels after {result.step} steps: {100 * error:.1f}%")
    print(f"checkpoint: {result.checkpoint}")
    return 0
