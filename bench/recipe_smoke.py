"""CPU smoke runs of the later GANs' recipes on Fashion-MNIST: each recipe keeps its own defaults
(losses, optimiser, n_critic ...), shrunk in network width and steps until a run takes minutes on a
CPU, and writes its final sample grid; the wall time of each run is printed as a table.

    .venv/bin/python bench/recipe_smoke.py --out var/smoke               # every recipe
    .venv/bin/python bench/recipe_smoke.py --recipes wgan_gp,began --threads 1 --scale 0.1

Beside ``<out>/<recipe>/samples/``, cgan and infogan get the grids that vary one code
(``<out>/<recipe>/codes/``) and cyclegan a grid of sources (odd rows) over their translations
(``<out>/cyclegan/translations.png``). Both the wall time and the process's CPU time are printed:
on a machine whose cores other work shares, the CPU time of a one-thread run (``--threads 1``, also
the fastest setting there) is what the run costs, and what an idle core would take.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from gan_engine.config import build_config
from gan_engine.recipes.code_grids import tile_rows, write_code_grids
from gan_engine.sampling import load_generator
from gan_engine.training.data import to_model_range, to_uint8
from gan_engine.training.grid import save_png
from gan_engine.training.loop import train

# Per recipe: what the smoke run changes from the recipe's defaults (dotted): width and steps for a
# run of minutes that ends with recognisable Fashion-MNIST items (or, for cyclegan, translations
# that look like the other class); began does not get there this short (docs/recipes.md). Only
# BGAN's learning rate differs from its recipe's: discrete BGAN's policy gradient learns too slowly
# at 1e-4 for a run of minutes.
SMOKE: dict[str, dict[str, object]] = {
    "wgan": {"model.width": 0.25, "optim.steps": 2000},
    "wgan_gp": {"model.width": 0.25, "optim.steps": 1500},
    "began": {"model.width": 0.25, "optim.steps": 3000},
    "progan": {"model.width": 0.25, "optim.steps": 1050},
    "cyclegan": {"model.width": 0.25, "optim.batch_size": 8, "optim.steps": 400},
    "bgan": {"model.width": 0.5, "optim.batch_size": 32, "optim.lr": 5e-4, "optim.steps": 2500},
    "cgan": {"model.width": 0.5, "optim.steps": 1200},
    "infogan": {"model.width": 0.5, "optim.steps": 1200},
}


def smoke_config(recipe: str, scale: float):
    dotted = dict(SMOKE[recipe])
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="var/smoke", help="folder of the runs (replaced per recipe)")
    parser.add_argument("--recipes", default=",".join(SMOKE), help="comma-separated recipes")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's steps (0.1: a quick look)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = {}
    print(f"| recipe | steps | CPU time (s) | wall time (s) | grid |  ({torch.get_num_threads()} threads)")
    for recipe in [r.strip() for r in args.recipes.split(",") if r.strip()]:
        if recipe not in SMOKE:
            parser.error(f"no smoke run for {recipe!r}; choose from {', '.join(SMOKE)}")
        config = smoke_config(recipe, args.scale)
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
        losses = {k: round(v, 4) for k, v in (result.last.losses if result.last else {}).items()}
        results[recipe] = {
            "steps": result.step,
            "cpu_seconds": round(cpu_seconds, 1),
            "wall_seconds": round(seconds, 1),
            "grid": str(grid),
            "losses": losses,
        }
        print(f"| {recipe} | {result.step} | {cpu_seconds:.0f} | {seconds:.0f} | {grid} | {losses}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{recipe}.json").write_text(json.dumps({"threads": torch.get_num_threads(), **results[recipe]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
