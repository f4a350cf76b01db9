"""The GPU path in one run: what a CUDA machine gives, within about 8 minutes on one H100.

    .venv/bin/python bench/gpu_check.py                      # on a CUDA machine: the full check
    .venv/bin/python bench/gpu_check.py --tiny --device cpu  # tiny sizes on the CPU (the test suite runs this)

It prints, section by section:

1. Training step times of the paper's MLP recipe (``improved_gan_ssl``, batch 100) and of its conv net
   (``improved_gan_ssl`` with ``paper_conv``, feature matching, 32x32): eager float32, channels-last
   (conv), bf16 mixed precision (``run.amp``, GPU only) and ``torch.compile`` of both networks, each the
   median of timed steps after warm-up (synchronised), next to the same eager step on the CPU and the ratio.
2. Inception Score throughput, ours against torch-fidelity, on the device (``bench/inception_throughput.py``).
3. Resume: a run stopped and resumed from its checkpoint against the same run straight through, under
   ``torch.use_deterministic_algorithms`` (with ``CUBLAS_WORKSPACE_CONFIG`` set before CUDA starts):
   bit-exact, or the largest absolute difference of any state entry where an op is not deterministic.
4. Semi-supervised Fashion-MNIST at 100 labels on the paper's full schedule (300 epochs of 600 steps,
   ``train_mnist_feature_matching.py`` line 123), ``--seeds`` seeds as separate processes on the one
   GPU, started first so that they run while sections 1-3 do: test error of each (D's parameter
   average, as the paper evaluates) and their mean ± std, as the paper reports 93 ± 6.5 errors on MNIST.
   A seed still running at ``--deadline`` seconds is reported with its progress instead.

``--json OUT`` writes every figure to a file as well.
"""

from __future__ import annotations

import os

# Before torch starts CUDA: cuBLAS is deterministic only with a fixed workspace.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gan_engine.config import build_config
from gan_engine.recipes import build_recipe
from gan_engine.training.checkpoint import load_checkpoint
from gan_engine.training.data import TrainingData
from gan_engine.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
PAPER_STEPS = 300 * 600  # 300 epochs of 600 batches of 100

CASES = {
    "MLP (improved_gan_ssl, paper_mlp)": {},
    "conv (improved_gan_ssl, paper_conv)": {
        "model": {"architecture": "paper_conv", "gaussian_noise": False},
        "data": {"image_size": 32},
    },
}


def sizes(tiny: bool) -> dict:
    if tiny:
        return {
            "base": {
                "data": {"dataset": "digits", "labels": 20},
                "model": {"width": 0.05},
                "optim": {"batch_size": 10},
            },
            "warmup": 1,
            "steps": 1,
            "cpu_steps": 1,
            "is": ["--n", "2", "--splits", "1", "--rounds", "1", "--skip-plain", "--threads", "1"],
            "resume_steps": 4,
            "ssl": {"data.dataset": "digits", "data.labels": 20, "model.width": 0.05, "optim.batch_size": 10},
            "ssl_steps": 4,
        }
    return {
        "base": {"data": {"dataset": "fashion_mnist", "labels": 100}, "optim": {"batch_size": 100}},
        "warmup": 20,
        "steps": 50,
        "cpu_steps": 5,
        "is": ["--n", "2000", "--rounds", "2"],
        "resume_steps": 200,
        "ssl": {"data.dataset": "fashion_mnist", "data.labels": 100},
        "ssl_steps": PAPER_STEPS,
    }


def _merge(base: dict, extra: dict) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_time(overrides: dict, device: torch.device, variant: str, warmup: int, steps: int, backend: str) -> float:
    """Median seconds of one training step of ``variant`` (eager, channels_last, amp, compile)."""
    amp = variant == "amp"
    config = build_config("improved_gan_ssl", _merge(overrides, {"run": {"device": str(device), "amp": amp}}))
    torch.manual_seed(0)
    data = TrainingData.load(config, device)
    recipe = build_recipe(config, data, device)
    recipe.initialize()
    if variant == "channels_last":
        recipe.generator.to(memory_format=torch.channels_last)
        recipe.discriminator.to(memory_format=torch.channels_last)
    if variant == "compile":
        recipe.generator = torch.compile(recipe.generator, backend=backend)
        recipe.discriminator = torch.compile(recipe.discriminator, backend=backend)
    for s in range(warmup):
        recipe.train_step(s)
    times = []
    for s in range(warmup, warmup + steps):
        _sync(device)
        t = time.perf_counter()
        recipe.train_step(s)
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def section_steps(device: torch.device, size: dict, backend: str, report: dict) -> None:
    print("\n## 1. Training step (median seconds per step)")
    print("| case | variant | device | step ms | CPU eager ms | CPU / device |")
    print("|---|---|---|---|---|---|")
    for name, extra in CASES.items():
        overrides = _merge(size["base"], extra)
        cpu = None
        if device.type != "cpu":
            cpu = step_time(overrides, torch.device("cpu"), "eager", 1, size["cpu_steps"], backend)
        variants = ["eager"]
        if "conv" in name:
            variants.append("channels_last")
        if device.type == "cuda":
            variants.append("amp")
        variants.append("compile")
        for variant in variants:
            seconds = step_time(overrides, device, variant, size["warmup"], size["steps"], backend)
            cpu = seconds if cpu is None else cpu  # on the CPU itself the eager step is the baseline
            report.setdefault("steps", []).append(
                {"case": name, "variant": variant, "device": str(device), "step_s": seconds, "cpu_eager_s": cpu}
            )
            print(f"| {name} | {variant} | {device} | {seconds * 1e3:.2f} | {cpu * 1e3:.1f} | {cpu / seconds:.1f}x |")


def section_inception(device: torch.device, size: dict, report: dict) -> None:
    print("\n## 2. Inception Score throughput (bench/inception_throughput.py)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "is.json"
        cmd = [sys.executable, str(ROOT / "bench" / "inception_throughput.py"), "--device", device.type]
        proc = subprocess.run([*cmd, *size["is"], "--json", str(out)], capture_output=True, text=True, cwd=ROOT)
        print(proc.stdout.rstrip())
        if proc.returncode:
            print(proc.stderr[-2000:])
            report["inception"] = {"error": proc.returncode}
        else:
            report["inception"] = json.loads(out.read_text())


def _max_difference(a, b, path: str = "state") -> float:
    """0.0 when ``a`` and ``b`` hold the same values to the bit; else the largest absolute difference."""
    if isinstance(a, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return float("inf")
        if torch.equal(a, b):
            return 0.0
        return float((a.double() - b.double()).abs().max()) if a.is_floating_point() else float("inf")
    if isinstance(a, dict):
        if set(a) != set(b):
            return float("inf")
        return max((_max_difference(a[k], b[k], f"{path}.{k}") for k in a), default=0.0)
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return float("inf")
        return max((_max_difference(x, y, path) for x, y in zip(a, b, strict=True)), default=0.0)
    return 0.0 if a == b else float("inf")


def section_resume(device: torch.device, size: dict, report: dict) -> None:
    print("\n## 3. Resume under deterministic settings")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    steps = size["resume_steps"]
    config = build_config(
        "improved_gan_ssl",
        _merge(
            size["base"],
            {"optim": {"steps": steps}, "run": {"device": str(device), "checkpoint_every": steps, "sample_every": 0}},
        ),
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            straight = train(config, Path(tmp) / "straight")
            polls = []
            stopped = train(
                config, Path(tmp) / "split", should_stop=lambda: len(polls) >= steps // 2 or polls.append(1)
            )
            resumed = train(config, Path(tmp) / "split", resume=stopped.checkpoint)
            a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
            diff = max(_max_difference(a["recipe"], b["recipe"]), _max_difference(a["rng"], b["rng"]))
    finally:
        torch.use_deterministic_algorithms(False)
    verdict = "bit-exact" if diff == 0 else f"differs: max |difference| {diff:.3g}"
    report["resume"] = {"device": str(device), "steps": steps, "stopped_at": stopped.step, "max_difference": diff}
    print(f"{steps} steps on {device}, stopped at {stopped.step} and resumed: {verdict}")


def start_ssl(device: torch.device, size: dict, seeds: int, folder: Path) -> list[tuple[int, Path, subprocess.Popen]]:
    runs = []
    for seed in range(1, seeds + 1):
        sets = {
            **size["ssl"],
            "optim.steps": size["ssl_steps"],
            "run.seed": seed,
            "data.label_seed": seed,
            "run.device": str(device),
            "run.eval_every": max(1, size["ssl_steps"] // 10),
            "run.checkpoint_every": size["ssl_steps"],
            "run.sample_every": 0,
            "run.log_every": max(1, size["ssl_steps"] // 100),
        }
        out = folder / f"seed{seed}"
        cmd = [
            sys.executable,
            "-m",
            "gan_engine",
            "train",
            "--recipe",
            "improved_gan_ssl",
            "--out",
            str(out),
            "--quiet",
        ]
        for key, value in sets.items():
            cmd += ["--set", f"{key}={value}"]
        log = (folder / f"seed{seed}.log").open("w")
        runs.append((seed, out, subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)))
    return runs


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def finish_ssl(runs, size: dict, deadline: float, report: dict) -> None:
    labels = size["ssl"]["data.labels"]
    print(f"\n## 4. Semi-supervised, {labels} labels, {size['ssl_steps']} steps, {len(runs)} seeds at once")
    errors = []
    for seed, out, proc in runs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        rows = _metrics(out)
        evaluated = [r for r in rows if "test_error" in r]
        step = rows[-1]["step"] if rows else 0
        if proc.returncode == 0 and evaluated and evaluated[-1]["step"] == size["ssl_steps"]:
            errors.append(evaluated[-1]["test_error"])
            print(f"seed {seed}: test error {100 * errors[-1]:.2f}%")
        else:
            last = f", last test error {100 * evaluated[-1]['test_error']:.2f}%" if evaluated else ""
            print(f"seed {seed}: not finished by the deadline (exit {proc.returncode}), step {step}{last}")
        report.setdefault("ssl", []).append({"seed": seed, "step": step, "evaluations": evaluated})
    if errors:
        mean = statistics.mean(errors)
        std = statistics.stdev(errors) if len(errors) > 1 else 0.0
        print(f"test error over {len(errors)} seeds: {100 * mean:.2f} ± {100 * std:.2f} %")
        report["ssl_summary"] = {"seeds": len(errors), "mean": mean, "std": std}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: the whole check in seconds on a CPU")
    parser.add_argument("--seeds", type=int, default=5, help="semi-supervised runs at once (section 4)")
    parser.add_argument("--deadline", type=float, default=450, help="seconds from the start to wait for section 4")
    parser.add_argument(
        "--compile-backend", default=None, help="torch.compile backend (default inductor; --tiny eager)"
    )
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: steps, inception, resume, ssl")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    began = time.monotonic()
    device = torch.device(args.device)
    size = sizes(args.tiny)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    backend = args.compile_backend or ("eager" if args.tiny else "inductor")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    report: dict = {"device": name, "torch": torch.__version__, "tiny": args.tiny}
    print(f"# GPU check on {name} (torch {torch.__version__}{', tiny sizes' if args.tiny else ''})")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [] if "ssl" in skip else start_ssl(device, size, args.seeds, Path(tmp))
        if "steps" not in skip:
            section_steps(device, size, backend, report)
        if "inception" not in skip:
            section_inception(device, size, report)
        if "resume" not in skip:
            section_resume(device, size, report)
        if runs:
            finish_ssl(runs, size, began + args.deadline, report)
    report["wall_seconds"] = time.monotonic() - began
    print(f"\nwall time {report['wall_seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
