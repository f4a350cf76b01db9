"""Semi-supervised quality under a fixed CPU budget: the test-error curve of ``improved_gan_ssl``
next to the same classifier trained on the labels alone (``supervised``), on Fashion-MNIST.

The budget is process CPU time (``time.process_time``), not wall time, so runs sharing a machine
still get the same compute. Each run writes ``var/bench/ssl/<recipe>-<labels>.jsonl`` (one line per
evaluation: step, epoch, CPU seconds, test error); ``--report`` prints the table from those files.

    .venv/bin/python bench/ssl_quality.py --recipe improved_gan_ssl --labels 100 --budget 1200
    .venv/bin/python bench/ssl_quality.py --recipe supervised --labels 100 --budget 1200
    .venv/bin/python bench/ssl_quality.py --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

OUT = Path("var/bench/ssl")


def run(recipe: str, labels: int, budget: float, threads: int, eval_every: int, seed: int) -> None:
    import torch

    from gan_engine.config import build_config
    from gan_engine.training.loop import train

    torch.set_num_threads(threads)
    config = build_config(
        recipe,
        {
            "data": {"labels": labels},
            "optim": {"steps": 10**6},
            "run": {"eval_every": eval_every, "checkpoint_every": 10**6, "sample_every": 0, "seed": seed},
        },
    )
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{recipe}-{labels}.jsonl"
    log.unlink(missing_ok=True)
    start = time.process_time()

    def on_progress(p) -> None:
        if "test_error" in p.metrics:
            line = {"step": p.step, "epoch": round(p.epoch, 3), "cpu_s": round(time.process_time() - start, 1)}
            line["test_error"] = p.metrics["test_error"]
            with log.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)

    result = train(
        config,
        OUT / f"run-{recipe}-{labels}",
        on_progress=on_progress,
        should_stop=lambda: time.process_time() - start > budget,
    )
    print(f"{recipe} {labels} labels: stopped at step {result.step}")


def report() -> None:
    curves = {}
    for path in sorted(OUT.glob("*.jsonl")):
        curves[path.stem] = [json.loads(line) for line in path.read_text().splitlines()]
    for name, points in curves.items():
        best = min(p["test_error"] for p in points)
        last = points[-1]
        print(
            f"{name:28s} steps {last['step']:6d}  epochs {last['epoch']:6.2f}  CPU {last['cpu_s']:7.0f}s  "
            f"final {100 * last['test_error']:5.2f}%  best {100 * best:5.2f}%"
        )
        print(
            "   curve (epoch: error%): " + ", ".join(f"{p['epoch']:.1f}: {100 * p['test_error']:.1f}" for p in points)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="improved_gan_ssl")
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--budget", type=float, default=1200.0, help="CPU seconds (default 20 minutes)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-every", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        report()
    else:
        run(args.recipe, args.labels, args.budget, args.threads, args.eval_every, args.seed)


if __name__ == "__main__":
    main()
