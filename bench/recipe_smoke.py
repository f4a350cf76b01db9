"""CPU smoke runs of the later GANs' recipes on Fashion-MNIST at an equal CPU budget, with a quality
table. Each recipe keeps its own defaults (losses, optimiser, n_critic ...), shrunk in network width,
and runs the steps of its row of ``SMOKE``: about 120 CPU seconds of one thread each. Each run writes
its final sample grid and is scored by the offline domain scorer (``fashion_mnist_cnn``; ``python -m
gan_engine train-scorer --dataset fashion_mnist`` trains it) against the 10,000 real test images:

- FID and KID (x 1000) of ``--samples`` generated images against the test set's scorer features;
- class coverage: how many of the 10 classes the scorer's classifier finds among the samples (a class
  counts when it holds at least ``COVERED_SHARE`` of them), and the entropy of that class histogram in
  bits (log2 10 = 3.32 for classes in equal shares, 0 for one mode);
- cyclegan: its test-set domain-A images are translated instead, and the table gives the share of the
  translations the classifier puts in domain B (and FID/KID against the real domain-B test images).

    .venv/bin/python bench/recipe_smoke.py --out var/smoke --threads 1     # every recipe
    .venv/bin/python bench/recipe_smoke.py --recipes wgan_gp,began --threads 1 --scale 0.1

Beside ``<out>/<recipe>/samples/``, cgan and infogan get the grids that vary one code
(``<out>/<recipe>/codes/``) and cyclegan a grid of sources (odd rows) over their translations
(``<out>/cyclegan/translations.png``). Both the wall time and the process's CPU time are printed:
on a machine whose cores other work shares, the CPU time of a one-thread run is what the run costs,
and what an idle core would take.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from gan_engine.config import DataConfig, build_config
from gan_engine.data import load_dataset
from gan_engine.data.resize import resize_images
from gan_engine.metrics import feature_statistics, frechet_distance, kernel_inception_distance, load_scorer
from gan_engine.metrics.real_stats import real_statistics
from gan_engine.recipes.code_grids import tile_rows, write_code_grids
from gan_engine.recipes.cyclegan import domain_labels
from gan_engine.sampling import generate, load_generator
from gan_engine.training.data import to_model_range, to_uint8
from gan_engine.training.grid import save_png
from gan_engine.training.loop import train

COVERED_SHARE = 0.01
SCORER = "fashion_mnist_cnn"

# Per recipe: what the smoke run changes from the recipe's defaults (dotted): a reduced width, and the
# steps that take about 120 CPU seconds of one thread on this project's machine (Xeon, AVX-512; the
# README's table gives each run's measured CPU time), so that every recipe gets the same compute and
# schedules that depend on the run's length (progan's growth, cyclegan's decay) still run whole.
# Only these settings differ from the recipes' own: BGAN's learning rate (discrete BGAN's policy
# gradient learns too slowly at 1e-4 for a run of minutes) and BEGAN's equilibrium, gamma and lambda_k
# (docs/recipes.md says why the paper's values collapse in a run this short).
SMOKE: dict[str, dict[str, object]] = {
    "wgan": {"model.width": 0.25, "optim.steps": 1371},
    "wgan_gp": {"model.width": 0.25, "optim.steps": 1039},
    "began": {"model.width": 0.25, "gans.began_gamma": 1.0, "gans.began_lambda_k": 0.01, "optim.steps": 1071},
    "progan": {"model.width": 0.25, "optim.steps": 762},
    "cyclegan": {"model.width": 0.25, "optim.batch_size": 8, "optim.steps": 833},
    "bgan": {"model.width": 0.5, "optim.batch_size": 32, "optim.lr": 5e-4, "optim.steps": 2105},
    "cgan": {"model.width": 0.5, "optim.steps": 1752},
    "infogan": {"model.width": 0.5, "optim.steps": 1622},
}


def smoke_config(recipe: str, scale: float, sets: dict[str, str] | None = None):
    dotted = {**SMOKE[recipe], **(sets or {})}
    dotted["optim.steps"] = max(1, round(int(dotted["optim.steps"]) * scale))
    steps = dotted["optim.steps"]
    dotted |= {"data.dataset": "fashion_mnist", "run.sample_every": max(1, steps // 4), "run.log_every": 50}
    dotted |= {"run.checkpoint_every": steps, "run.keep_checkpoints": 1, "run.device": "cpu"}
    overrides: dict[str, dict[str, object]] = {}
    for key, value in dotted.items():
        section, _, name = key.partition(".")
        overrides.setdefault(section, {})[name] = value
    return build_config(recipe, overrides)


@torch.no_grad()
def translation_grid(checkpoint: str, path: Path, n: int = 10, rows: int = 3) -> None:
    g = load_generator(checkpoint, "cpu").generator
    sources = g.bank[: n * rows]
    out = to_uint8(g(to_model_range(sources, "symmetric")), "symmetric")
    pairs = torch.cat([torch.stack([sources[r * n : (r + 1) * n], out[r * n : (r + 1) * n]]) for r in range(rows)])
    save_png(tile_rows(pairs.flatten(0, 1), n), path)


def coverage(logits: np.ndarray, classes: int) -> tuple[int, float, list[float]]:
    """(classes holding at least COVERED_SHARE of the samples, entropy of the class shares in bits, shares)."""
    shares = np.bincount(logits.argmax(1), minlength=classes) / len(logits)
    nonzero = shares[shares > 0]
    entropy = max(0.0, float(-(nonzero * np.log2(nonzero)).sum()))
    return int((shares >= COVERED_SHARE).sum()), entropy, shares.tolist()


def distances(features: np.ndarray, real_features: np.ndarray, real_mu, real_sigma) -> dict[str, float]:
    mu, sigma = feature_statistics(features)
    size = min(1000, len(features), len(real_features))
    kid, _ = kernel_inception_distance(features, real_features, subsets=100, subset_size=size)
    return {"fid": frechet_distance(mu, sigma, real_mu, real_sigma), "kid_x1000": 1000 * kid}


def score_generator(checkpoint: Path, n: int, scorer) -> dict[str, object]:
    """FID, KID and class coverage of ``n`` samples against the real test set."""
    loaded = load_generator(checkpoint, "cpu")
    images = resize_images(generate(loaded, n, seed=0), scorer.image_size)
    real = real_statistics(scorer, "fashion_mnist", "test")
    out = scorer.extract(images, batch_size=500)
    covered, entropy, shares = coverage(out.logits, scorer.num_classes)
    return {
        **distances(out.features, real.kid_features, real.mu, real.sigma),
        "classes": covered,
        "entropy_bits": entropy,
        "shares": shares,
    }


def score_real(n: int, scorer) -> dict[str, object]:
    """The floor of the table: ``n`` real training images scored as if generated."""
    train_images = load_dataset(DataConfig(dataset="fashion_mnist"), "train").images
    images = train_images[torch.randperm(len(train_images), generator=torch.Generator().manual_seed(0))[:n]]
    real = real_statistics(scorer, "fashion_mnist", "test")
    out = scorer.extract(images, batch_size=500)
    covered, entropy, shares = coverage(out.logits, scorer.num_classes)
    features = distances(out.features, real.kid_features, real.mu, real.sigma)
    return {**features, "classes": covered, "entropy_bits": entropy, "shares": shares}


@torch.no_grad()
def score_translation(checkpoint: Path, scorer) -> dict[str, object]:
    """The test set's domain-A images translated: the share the classifier puts in domain B, and FID/KID
    of the translations against the real domain-B test images."""
    loaded = load_generator(checkpoint, "cpu")
    g, gans = loaded.generator, loaded.config.gans
    test = load_dataset(DataConfig(dataset="fashion_mnist"), "test")
    a = domain_labels(gans.cyclegan_domain_a, test.classes, "gans.cyclegan_domain_a")
    b = domain_labels(gans.cyclegan_domain_b, test.classes, "gans.cyclegan_domain_b")
    sources = test.images[torch.isin(test.labels, torch.tensor(a))]
    targets = test.images[torch.isin(test.labels, torch.tensor(b))]
    translated = torch.cat(
        [to_uint8(g(to_model_range(chunk, "symmetric")), "symmetric") for chunk in sources.split(100)]
    )
    out, real = scorer.extract(translated, batch_size=500), scorer.extract(targets, batch_size=500)
    mu, sigma = feature_statistics(real.features)
    in_b = float(np.isin(out.logits.argmax(1), b).mean())
    source_in_b = float(np.isin(scorer.extract(sources, batch_size=500).logits.argmax(1), b).mean())
    return {**distances(out.features, real.features, mu, sigma), "translated_to_b": in_b, "sources_in_b": source_in_b}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="var/smoke", help="folder of the runs (replaced per recipe)")
    parser.add_argument("--recipes", default=",".join(SMOKE), help="comma-separated recipes (none: only --baseline)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's steps (0.1: a quick look)")
    parser.add_argument("--samples", type=int, default=5000, help="generated images scored per recipe")
    parser.add_argument("--no-score", action="store_true", help="train and write grids only")
    parser.add_argument("--baseline", action="store_true", help="first a row of real training images, the floor")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a smoke setting")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip() and r.strip() != "none"]
    for recipe in recipes:
        if recipe not in SMOKE:
            parser.error(f"no smoke run for {recipe!r}; choose from {', '.join(SMOKE)}")
    scorer = None if args.no_score else load_scorer(SCORER, "cpu")
    out = Path(args.out)
    print(
        f"| recipe | steps | CPU s | wall s | FID | KID x1000 | classes (of 10) | entropy (bits) | grid |"
        f"  ({torch.get_num_threads()} threads, steps x {args.scale})"
    )
    if args.baseline and scorer is not None:
        row = {"steps": 0, "cpu_seconds": 0.0, "wall_seconds": 0.0, "grid": "-", **score_real(args.samples, scorer)}
        out.mkdir(parents=True, exist_ok=True)
        (out / "real.json").write_text(json.dumps(row))
        print(_row("real (train)", row), flush=True)
    for recipe in recipes:
        config = smoke_config(recipe, args.scale, dict(item.split("=", 1) for item in args.set))
        run_dir = out / recipe
        shutil.rmtree(run_dir, ignore_errors=True)
        began, cpu_began = time.perf_counter(), time.process_time()
        result = train(config, run_dir)
        seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
        grid = run_dir / "samples" / f"step_{result.step:08d}.png"
        if recipe in ("cgan", "infogan"):
            write_code_grids(result.checkpoint, run_dir / "codes")
        if recipe == "cyclegan":
            translation_grid(result.checkpoint, run_dir / "translations.png")
        quality: dict[str, object] = {}
        if scorer is not None:
            if recipe == "cyclegan":
                quality = score_translation(result.checkpoint, scorer)
            else:
                quality = score_generator(result.checkpoint, args.samples, scorer)
        row = {"steps": result.step, "cpu_seconds": round(cpu_seconds, 1), "wall_seconds": round(seconds, 1)}
        row |= {"grid": str(grid), **quality}
        (out / f"{recipe}.json").write_text(json.dumps({"threads": torch.get_num_threads(), **row}))
        print(_row(recipe, row), flush=True)
    return 0


def _row(recipe: str, row: dict[str, object]) -> str:
    def num(key: str, digits: int) -> str:
        value = row.get(key)
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    if "translated_to_b" in row:
        to_b, sources = 100 * row["translated_to_b"], 100 * row["sources_in_b"]
        coverage_cells = f"A→B: {to_b:.0f}% classified B (sources: {sources:.0f}%) | -"
    else:
        coverage_cells = f"{row.get('classes', '-')} | {num('entropy_bits', 2)}"
    return (
        f"| {recipe} | {row['steps']} | {row['cpu_seconds']:.0f} | {row['wall_seconds']:.0f} | {num('fid', 1)} | "
        f"{num('kid_x1000', 1)} | {coverage_cells} | {row['grid']} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
