"""``evaluate``: the semi-supervised test error of a checkpoint."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="semi-supervised test error of a checkpoint",
        description="Test error of the checkpoint's K+1 classifier on the dataset's test split, computed with "
        "the running average of D's parameters as the paper's code does.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file")
    p.add_argument("--examples", type=int, help="test examples to use (default: all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gan_engine.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.device, args.examples)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"step {result['step']}: test error {100 * result['test_error']:.2f}%")
    return 0
