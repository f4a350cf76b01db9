"""Inception Score throughput: our canonical network against torch-fidelity's, on the same images, in one run.

    .venv/bin/python bench/inception_throughput.py [--n 256] [--rounds 3] [--device cpu|cuda] [--json OUT]

Prints images per second for
- torch-fidelity, plain run: ``torch_fidelity.calculate_metrics(isc=True)`` on a Dataset, its defaults
  (batch 64, DataLoader workers), shuffling off so that the splits are the paper's;
- torch-fidelity, extractor only: its FeatureExtractorInceptionV3 called on batches, no loader;
- ours: ``InceptionScorer.extract`` (batch norm folded, merged 1x1 branches, channels-last, fused
  conv+ReLU, one image slice per core), and the same network with plain intra-op threads;
- the floor: the network's FLOPs (2 per multiply-add, counted by hooks) over the measured float32 matmul
  rate, i.e. the throughput at 100% of what the GEMM library reaches on this machine;
and the Inception Score of each path on those images with its relative difference.

Rounds alternate the methods, so that a neighbour's load on a shared machine hits all of them alike; the
table shows the best round and the median. Without the real weights (GAN_INCEPTION_WEIGHTS or the cache)
the run uses a seeded random-weight file of the same layout: throughput is the same, IS is not meaningful
in absolute terms (it sits near 1) but must still agree between the two implementations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gan_engine.metrics import inception_score, softmax
from gan_engine.metrics.canonical import InceptionScorer
from gan_engine.metrics.inception_net import state_dict_layout
from gan_engine.metrics.weights import INCEPTION_SHA256, inception_weights_path, sha256_file


def weights_file(tmp: Path) -> tuple[Path, str, bool]:
    """(path, sha256, real?): the canonical file when present, else a random one of the same layout."""
    path = inception_weights_path()
    if path.is_file() and sha256_file(path) == INCEPTION_SHA256:
        return path, INCEPTION_SHA256, True
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in state_dict_layout().items():
        if key.endswith("conv.weight"):
            state[key] = torch.randn(shape, generator=g) * (2.0 / (shape[1] * shape[2] * shape[3])) ** 0.5
        elif key.endswith(("bn.weight", "running_var")):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key == "fc.weight":
            state[key] = torch.randn(shape, generator=g) / shape[1] ** 0.5
        else:
            state[key] = 0.1 * torch.randn(shape, generator=g)
    path = tmp / "random-inception.pth"
    torch.save(state, path)
    return path, sha256_file(path), False


def load_images(dataset: str, n: int) -> torch.Tensor:
    from gan_engine.config import DataConfig
    from gan_engine.data import load_dataset

    images = load_dataset(DataConfig(dataset=dataset), "test").images[:n]
    if len(images) < n:
        raise SystemExit(f"{dataset} has only {len(images)} test images")
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


def count_macs(model: torch.nn.Module, image: torch.Tensor) -> int:
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output.numel() * module.in_channels // module.groups * kh * kw
        elif isinstance(module, torch.nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.inference_mode():
        model(image)
    for h in handles:
        h.remove()
    # torch-fidelity's IS path multiplies pool_3 by the fc weight directly (no Linear call): add it.
    return macs + 2048 * 1008


def matmul_gflops(device: torch.device, size: int = 2048, reps: int = 10) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(3):
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * reps / best / 1e9


class _Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256, help="images (default 256)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--dataset", default="fashion_mnist", help="test images of this dataset (default)")
    parser.add_argument("--batch-size", type=int, default=32, help="our batch (torch-fidelity keeps its 64)")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-plain", action="store_true", help="skip torch-fidelity's calculate_metrics")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1: per-core rates, robust to a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import torch_fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    tmp = Path(tempfile.mkdtemp(prefix="inception-bench-"))
    path, sha, real = weights_file(tmp)
    images = load_images(args.dataset, args.n)
    ours = InceptionScorer.from_file(path, sha256=sha, device=device)
    theirs = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    ).to(device)

    macs = count_macs(theirs, images[:1].to(device))
    rate = 0.0  # the best over the rounds, measured between the methods

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def run_ours() -> np.ndarray:
        return ours.extract(images, batch_size=args.batch_size).logits

    def run_ours_intra() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), args.batch_size):
                out.append(ours.net(images[start : start + args.batch_size].to(device))[0].cpu())
        return torch.cat(out).numpy()

    def run_extractor() -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 64):
                out.append(theirs(images[start : start + 64].to(device))[1].cpu())
        return torch.cat(out).numpy()

    plain_is: dict[str, float] = {}

    def run_plain() -> None:
        metrics = torch_fidelity.calculate_metrics(
            input1=_Images(images),
            cuda=cuda,
            isc=True,
            isc_splits=args.splits,
            samples_shuffle=False,
            feature_extractor_weights_path=str(path),
            cache=False,
            verbose=False,
        )
        plain_is.update(metrics)

    methods = {
        "torch-fidelity plain run": run_plain,
        "torch-fidelity extractor": run_extractor,
        "ours, intra-op threads": run_ours_intra,
        "ours (InceptionScorer.extract)": run_ours,
    }
    if args.skip_plain:
        del methods["torch-fidelity plain run"]
    with torch.inference_mode():  # warm-up: oneDNN primitive creation, CUDA kernels
        ours.net(images[:2].to(device))
        theirs(images[:2].to(device))
    logits: dict[str, np.ndarray] = {}
    rates: dict[str, list[float]] = {name: [] for name in methods}
    # Images per CPU-second of this process: what a neighbour's load on a shared machine changes least.
    cpu_rates: dict[str, list[float]] = {name: [] for name in methods}
    for r in range(args.rounds):
        for name, fn in methods.items():
            sync()
            start, cpu_start = time.perf_counter(), time.process_time()
            out = fn()
            sync()
            rates[name].append(len(images) / (time.perf_counter() - start))
            cpu_rates[name].append(len(images) / (time.process_time() - cpu_start))
            if out is not None:
                logits[name] = out
            print(f"round {r + 1}: {name}: {rates[name][-1]:.2f} img/s", file=sys.stderr, flush=True)
        rate = max(rate, matmul_gflops(device))
    floor = rate * 1e9 / (2 * macs)

    is_ours = inception_score(softmax(logits["ours (InceptionScorer.extract)"]), args.splits)
    is_theirs = inception_score(softmax(logits["torch-fidelity extractor"]), args.splits)
    reference = plain_is.get("inception_score_mean", is_theirs[0])
    baseline = max(rates.get("torch-fidelity plain run") or rates["torch-fidelity extractor"])
    extractor = max(rates["torch-fidelity extractor"])
    rows = [(name, max(v), statistics.median(v), max(cpu_rates[name])) for name, v in rates.items()]
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"\n{len(images)} {args.dataset} test images, {device_name}, torch {torch.__version__}, "
        f"torch-fidelity {torch_fidelity.__version__}"
    )
    print(f"weights: {'canonical' if real else 'seeded random (same layout; real weights not on this machine)'}")
    print(
        f"Inception-v3: {macs / 1e9:.3f} G multiply-adds/image = {2 * macs / 1e9:.2f} GFLOP; "
        f"float32 matmul {rate:.0f} GFLOP/s -> floor {floor:.1f} img/s\n"
    )
    print("| method | img/s (best) | img/s (median) | x plain | x extractor | % of floor | img per CPU-s |")
    print("|---|---|---|---|---|---|---|")
    for name, best, median, cpu in rows:
        print(
            f"| {name} | {best:.2f} | {median:.2f} | {best / baseline:.2f} | {best / extractor:.2f} | "
            f"{100 * best / floor:.0f}% | {cpu:.2f} |"
        )
    print(f"| floor (FLOPs / matmul rate) | {floor:.2f} | | {floor / baseline:.2f} | {floor / extractor:.2f} | 100% |")
    print(
        f"\nIS ours {is_ours[0]:.7f} ± {is_ours[1]:.7f}; torch-fidelity {reference:.7f} "
        f"± {plain_is.get('inception_score_std', is_theirs[1]):.7f}; relative difference "
        f"{abs(is_ours[0] - reference) / reference:.2e} (of IS - 1: "
        f"{abs(is_ours[0] - reference) / max(abs(reference - 1), 1e-12):.2e})"
    )
    diff = np.abs(logits["ours (InceptionScorer.extract)"] - logits["torch-fidelity extractor"]).max()
    print(f"max |logit difference| {diff:.2e} (logits up to {np.abs(logits['torch-fidelity extractor']).max():.1f})")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "n": len(images),
                    "device": device_name,
                    "real_weights": real,
                    "macs": macs,
                    "matmul_gflops": rate,
                    "floor_img_s": floor,
                    "rates": rates,
                    "cpu_rates": cpu_rates,
                    "is_ours": is_ours,
                    "is_torch_fidelity": reference,
                    "max_logit_diff": float(diff),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
