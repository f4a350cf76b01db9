"""``train``: train a config into a run folder, or resume one from a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from gan_engine.cli.common import ProgressPrinter, add_config_options, config_epilog, config_from_args
from gan_engine.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a GAN",
        description="Train a config into --out; with --resume, continue a run from its checkpoint exactly.",
        epilog=config_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_options(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default with --resume: the checkpoint's run folder)")
    p.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="checkpoint to resume from, or 'latest' for the newest in --out; its config is used unless "
        "--config/--recipe/--set change how long or how it runs",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gan_engine.run_folder import checkpoint_dir
    from gan_engine.training.checkpoint import checkpoint_config, latest_checkpoint
    from gan_engine.training.loop import train

    resume = args.resume
    if resume == "latest":
        if not args.out:
            raise ConfigError({"--out": "--resume latest needs the run folder"})
        resume = latest_checkpoint(args.out)
        if resume is None:
            raise ConfigError({"--resume": f"no checkpoint in {checkpoint_dir(args.out)}"})
    if resume is not None:
        config = config_from_args(args, base=checkpoint_config(resume))
        out = Path(args.out) if args.out else Path(resume).resolve().parent.parent
    else:
        if not args.out:
            raise ConfigError({"--out": "give the run folder to train into"})
        config = config_from_args(args)
        out = Path(args.out)
    result = train(config, out, on_progress=None if args.quiet else ProgressPrinter(), resume=resume)
    print(f"{result.status} at step {result.step}; checkpoint {result.checkpoint}")
    return 0
