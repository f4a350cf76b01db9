"""``python -m gan_engine COMMAND``: one module per command, each with ``add_parser`` and ``run``.

Command modules import torch inside ``run`` so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gan_engine.errors import EngineError

COMMANDS = ("demo", "train", "sample", "evaluate", "real_pool", "score", "fetch_weights", "train_scorer", "c2st")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gan_engine",
        description="Train GANs with the techniques of Improved Techniques for Training GANs, sample and score them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gan_engine.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
