"""Step time of the semi-supervised MLP recipe and the convolutional recipe at batch 100, next to
the floor that one step's FLOPs (counted by torch.utils.flop_counter) and this machine's measured
matmul rate give. Prints a table; run with ``.venv/bin/python bench/train_step.py``.

The floor assumes every FLOP runs at the rate of a large square float32 matmul, which no step of
small layers reaches; "x floor" says how far the step is from it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan_engine.config import build_config
from gan_engine.recipes import build_recipe
from gan_engine.training.data import TrainingData

CASES = {
    "improved_gan_ssl (paper MLP, FM)": ("improved_gan_ssl", {}),
    "improved_gan (paper conv, MBD+VBN+LS)": ("improved_gan", {"optim": {"g_steps": 1}}),
    "improved_gan_ssl (paper conv, FM)": (
        "improved_gan_ssl",
        {"model": {"architecture": "paper_conv", "gaussian_noise": False}, "data": {"image_size": 32}},
    ),
}


def matmul_rate(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def measure(recipe_name: str, overrides: dict, steps: int, warmup: int) -> tuple[float, float, list[float]]:
    config = build_config(recipe_name, {**overrides, "optim": {"batch_size": 100, **overrides.get("optim", {})}})
    torch.manual_seed(0)
    device = torch.device("cpu")
    data = TrainingData.load(config, device)
    recipe = build_recipe(config, data, device)
    recipe.initialize()
    for s in range(warmup):
        recipe.train_step(s)
    with FlopCounterMode(display=False) as counter:
        recipe.train_step(warmup)
    flops = counter.get_total_flops()
    times = []
    for s in range(warmup + 1, warmup + 1 + steps):
        t = time.perf_counter()
        recipe.train_step(s)
        times.append(time.perf_counter() - t)
    return flops, statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", help="substring of a case name")
    args = parser.parse_args()
    rate = matmul_rate()
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; float32 matmul rate {rate / 1e9:.1f} GFLOP/s"
    )
    print(f"{'case':42s} {'GFLOP/step':>10s} {'floor ms':>9s} {'step ms':>8s} {'x floor':>8s} {'img/s':>7s}")
    with tempfile.TemporaryDirectory():
        for name, (recipe, overrides) in CASES.items():
            if args.only and args.only not in name:
                continue
            steps = args.steps if "MLP" in name else max(3, args.steps // 10)
            flops, median, _ = measure(recipe, overrides, steps, args.warmup if "MLP" in name else 1)
            floor = flops / rate
            print(
                f"{name:42s} {flops / 1e9:10.2f} {floor * 1e3:9.1f} {median * 1e3:8.1f} "
                f"{median / floor:8.2f} {100 / median:7.0f}"
            )


if __name__ == "__main__":
    main()
