"""Checkpoints that resume everything, stored as plain data.

A checkpoint holds the recipe's whole state (both networks, both optimisers, parameter averages,
historical averages, the VBN reference batch), the RNG states, the step, the labelled subset and the
config. It is written atomically (a temporary file, then a rename), so a crash mid-write never
leaves a truncated file under the final name, and read with ``weights_only=True``: a checkpoint is
data, never code to unpickle. Reading validates the whole file before any of it reaches a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from gan_engine.config import TrainConfig, config_from_dict
from gan_engine.errors import CheckpointError, ConfigError
from gan_engine.run_folder import list_checkpoints

FORMAT = "gan_engine.checkpoint/1"
_REQUIRED = ("format", "config", "step", "recipe", "rng", "labelled_indices", "image_shape")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint; raise ``CheckpointError`` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gan_engine checkpoint (expected format {FORMAT})")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    try:
        state["config"] = config_from_dict(json.loads(state["config"]))
    except (ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path} holds an invalid config: {exc}") from None
    return state


def checkpoint_config(path: str | Path) -> TrainConfig:
    return load_checkpoint(path)["config"]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)


# Sections a resumed run may change: how long and how it runs, not what it trains.
RESUMABLE_CHANGES = ("optim.steps", "run.")


def check_resumable(stored: TrainConfig, wanted: TrainConfig, path: Path) -> None:
    a, b = _flat(stored.to_dict()), _flat(wanted.to_dict())
    differ = [
        key for key in sorted(a) if a[key] != b.get(key) and not any(key.startswith(p) for p in RESUMABLE_CHANGES)
    ]
    if differ:
        raise CheckpointError(f"{path} was trained with another config: {', '.join(differ)} differ")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
