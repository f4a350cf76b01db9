"""Semi-supervised test error of a checkpoint, the paper's Table 1/2 number."""

from __future__ import annotations

from pathlib import Path

from gan_engine.errors import ConfigError
from gan_engine.recipes import build_recipe
from gan_engine.training.checkpoint import load_checkpoint
from gan_engine.training.data import TrainingData
from gan_engine.training.loop import resolve_device


def evaluate_checkpoint(checkpoint: str | Path, device: str = "auto", examples: int | None = None) -> dict[str, float]:
    """Test error of the checkpoint's K+1 classifier, with D's averaged parameters."""
    state = load_checkpoint(checkpoint)
    config = state["config"]
    if not config.uses_labels:
        raise ConfigError({"data.labels": f"{checkpoint} was trained without labels: it has no classifier to test"})
    if examples is not None:
        config = config.replace(**{"run.eval_examples": examples})
    torch_device = resolve_device(device)
    data = TrainingData.load(config, torch_device, labelled=state["labelled_indices"])
    recipe = build_recipe(config, data, torch_device)
    recipe.load_state_dict(state["recipe"], str(checkpoint))
    return {"step": state["step"], **recipe.evaluate()}
