"""Generator/discriminator pairs by architecture name (see ``registry.ARCHITECTURES``)."""

from __future__ import annotations

from gan_engine.config import TrainConfig
from gan_engine.models.base import Discriminator, Generator
from gan_engine.registry import ARCHITECTURES, resolve


def build_models(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    """Build the pair for images of ``shape`` (C, H, W) with ``d_outputs`` logits in D's head."""
    builder = resolve(ARCHITECTURES.get(config.model.architecture).builder)
    return builder(config, shape, d_outputs)


__all__ = ["Discriminator", "Generator", "build_models"]
