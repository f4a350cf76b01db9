"""Recipes by name: each is a training step class, registered with its defaults and options by its spec
(``gan_engine.specs``)."""

from __future__ import annotations

import torch

from gan_engine.config import TrainConfig
from gan_engine.recipes.base import Recipe
from gan_engine.registry import RECIPES, resolve
from gan_engine.training.data import TrainingData


def build_recipe(config: TrainConfig, data: TrainingData, device: torch.device) -> Recipe:
    return resolve(RECIPES.get(config.recipe).step)(config, data, device)


__all__ = ["Recipe", "build_recipe"]
