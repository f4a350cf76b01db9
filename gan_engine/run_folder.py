"""The run folder's layout, the one place that names its files. Torch-free: the training loop writes these
files and the web side (runs, its dashboard and workers) reads them, both through this module.

    run_dir/config.json        the validated config
    run_dir/labelled.json      the labelled subset's indices (the seed's choice, recorded)
    run_dir/metrics.jsonl      one line per logged step: losses, throughput, test error
    run_dir/events.out.tfevents.*  the same for TensorBoard, when it is installed (training/tensorboard.py)
    run_dir/samples/step_00000600.png      sample grids from fixed latents
    run_dir/checkpoints/step_00000600.pt   checkpoints that resume the run exactly
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG_FILE = "config.json"
LABELLED_FILE = "labelled.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"

_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.pt$")
_GRID_NAME = re.compile(r"^step_(\d+)\.png$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step_{step:08d}.pt"


def checkpoint_step(path: str | Path) -> int | None:
    """The step a checkpoint file was written at, from its name; None for a file not named as a checkpoint."""
    match = _CHECKPOINT_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's periodic checkpoints, oldest first."""
    folder = checkpoint_dir(run_dir)
    found = [(step, p) for p in folder.glob("step_*.pt") if (step := checkpoint_step(p)) is not None]
    return [p for _, p in sorted(found)]


def grid_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / SAMPLES_DIR / f"step_{step:08d}.png"


def grid_step(path: str | Path) -> int | None:
    """The step a sample grid was written at, from its name; None for a file not named as a grid."""
    match = _GRID_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS_FILE


def grid_steps(run_dir: str | Path) -> list[int]:
    """The steps whose sample grid the run folder holds, in order."""
    folder = Path(run_dir) / SAMPLES_DIR
    if not folder.is_dir():
        return []
    return sorted(step for path in folder.iterdir() if (step := grid_step(path)) is not None)
