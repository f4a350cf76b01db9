"""The training loop: ``train(config, run_dir, on_progress=..., should_stop=...)``.

The engine's seam with whoever drives it (the CLI, a Celery worker): it writes the files of
``gan_engine.run_folder`` under ``run_dir`` and reports plain data through its hooks, never touching a database.

A run resumed from the checkpoint of step k ends with the same parameters, to the bit on the CPU,
as one that ran through: batches depend only on their position, every RNG state is saved, and
sample grids and evaluation draw no random numbers from the training stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from gan_engine import run_folder
from gan_engine.config import TrainConfig
from gan_engine.recipes import Recipe, build_recipe
from gan_engine.training import tensorboard
from gan_engine.training.checkpoint import (
    check_resumable,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from gan_engine.training.data import TrainingData
from gan_engine.training.grid import grid_latents, write_grid
from gan_engine.training.progress import Progress, TrainResult

ProgressHook = Callable[[Progress], None]
StopHook = Callable[[], bool]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _rng_state() -> dict[str, object]:
    state: dict[str, object] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, object]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _every(step: int, interval: int, last: bool) -> bool:
    return last or (interval > 0 and step % interval == 0)


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop the lines the interrupted run logged after its checkpoint: they are re-run."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    on_progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    resume: str | Path | None = None,
) -> TrainResult:
    """Train ``config`` into ``run_dir``; resume from a checkpoint when ``resume`` names one.

    ``on_progress`` is called every ``run.log_every`` steps and at every checkpoint, grid and
    evaluation; ``should_stop`` is polled every step, and when it says so the loop writes a
    checkpoint and returns with status "stopped"."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.run.device)
    torch.manual_seed(config.run.seed)

    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        check_resumable(state["config"], config, Path(resume))
    data = TrainingData.load(config, device, labelled=None if state is None else state["labelled_indices"])
    recipe = build_recipe(config, data, device)
    if state is None:
        start = 0
        recipe.initialize()
        (run_dir / run_folder.LABELLED_FILE).write_text(json.dumps(data.labelled.tolist()))
    else:
        recipe.load_state_dict(state["recipe"], str(resume))
        _set_rng_state(state["rng"])
        start = state["step"]
        _truncate_metrics(run_folder.metrics_path(run_dir), start)
    (run_dir / run_folder.CONFIG_FILE).write_text(config.to_json())

    on_progress = tensorboard.tee(run_dir, start, on_progress)
    return _Loop(config, run_dir, recipe, data, on_progress, should_stop).run(start)


class _Loop:
    def __init__(self, config, run_dir, recipe: Recipe, data: TrainingData, on_progress, should_stop):
        self.config, self.run_dir, self.recipe, self.data = config, run_dir, recipe, data
        self.on_progress, self.should_stop = on_progress, should_stop
        self.z_grid = grid_latents(config.model.z_dim, 100, config.run.seed)

    def run(self, start: int) -> TrainResult:
        r, total = self.config.run, self.config.optim.steps
        began, last_progress, checkpoint = time.perf_counter(), None, None
        status = "done"
        step = start
        while step < total:
            losses = self.recipe.train_step(step)
            step += 1
            last = step == total
            stopping = not last and self.should_stop is not None and self.should_stop()
            extras: dict[str, object] = {}
            if _every(step, r.eval_every, last) and (metrics := self.recipe.evaluate()):
                extras["metrics"] = metrics
            if _every(step, r.sample_every, last):
                path = run_folder.grid_path(self.run_dir, step)
                extras["sample_grid"] = str(write_grid(self.recipe.generator, self.z_grid, self.data.data_range, path))
            if _every(step, r.checkpoint_every, last) or stopping:
                checkpoint = self._checkpoint(step)
                extras["checkpoint"] = str(checkpoint)
            if extras or _every(step, r.log_every, last):
                last_progress = self._report(step, start, began, losses, extras)
            if stopping:
                status = "stopped"
                break
        if checkpoint is None:  # resumed at the end already
            checkpoint = self._checkpoint(step)
        return TrainResult(status, step, str(checkpoint), str(self.run_dir), last_progress)

    def _checkpoint(self, step: int) -> Path:
        path = save_checkpoint(
            run_folder.checkpoint_path(self.run_dir, step),
            {
                "config": self.config.to_json(),
                "step": step,
                "recipe": self.recipe.state_dict(),
                "rng": _rng_state(),
                "labelled_indices": self.data.labelled,
                "image_shape": list(self.data.shape),
            },
        )
        prune_checkpoints(self.run_dir, self.config.run.keep_checkpoints)
        return path

    def _report(self, step, start, began, losses, extras) -> Progress:
        elapsed = time.perf_counter() - began
        batch = self.config.optim.batch_size
        rate = (step - start) * batch / elapsed if elapsed > 0 else 0.0
        remaining = self.config.optim.steps - step
        progress = Progress(
            step=step,
            total_steps=self.config.optim.steps,
            epoch=step * batch / len(self.data.train),
            losses={k: float(v) for k, v in losses.items()},
            images_per_sec=rate,
            eta_seconds=remaining * batch / rate if rate else None,
            metrics=extras.get("metrics") or {},
            sample_grid=extras.get("sample_grid"),
            checkpoint=extras.get("checkpoint"),
        )
        with run_folder.metrics_path(self.run_dir).open("a") as f:
            f.write(json.dumps({"step": step, "epoch": progress.epoch, **progress.losses, **progress.metrics}) + "\n")
        if self.on_progress is not None:
            self.on_progress(progress)
        return progress
