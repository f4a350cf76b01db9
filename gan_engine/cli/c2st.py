"""``c2st``: the classifier two-sample test of a pool against real images (Lopez-Paz & Oquab 2017)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "c2st",
        help="classifier two-sample test: a real-vs-generated classifier's held-out accuracy (50%% = chance)",
        description="Train a small classifier to tell a pool's images from a real pool's on half of them and "
        "report its accuracy on the other half, with its binomial interval and the p-value against chance "
        "(Lopez-Paz & Oquab 2017, Revisiting Classifier Two-Sample Tests). The pools must share size and mode "
        "(write the real one with real-pool --image-size).",
    )
    p.add_argument("--pool", required=True, metavar="DIR", help="the generated pool's folder")
    p.add_argument("--real", required=True, metavar="DIR", help="a real pool's folder (from real-pool)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the classifier (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from gan_engine.errors import ConfigError
    from gan_engine.metrics.c2st import c2st
    from gan_engine.pool_tensors import read_pool

    if args.epochs < 1:
        raise ConfigError({"--epochs": "must be at least 1"})
    fake, _ = read_pool(args.pool)
    real, _ = read_pool(args.real)
    result = c2st(real, fake, epochs=args.epochs, seed=args.seed, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"C2ST accuracy {100 * result['c2st_accuracy']:.1f}% "
        f"(95% CI {100 * result['c2st_ci_low']:.1f}–{100 * result['c2st_ci_high']:.1f}%) "
        f"on {result['c2st_n_test']} held-out images; p = {result['c2st_p_value']:.3g} against 50% (chance)"
    )
    return 0
