"""Generator/discriminator pairs by architecture name (see ``registry.ARCHITECTURES``)."""

from __future__ import annotations

from torch import nn

from gan_engine.config import ModelConfig, TrainConfig
from gan_engine.models.base import Discriminator, Generator
from gan_engine.nn.normalization import BatchNorm
from gan_engine.nn.weight_norm import _WeightNormed
from gan_engine.registry import ARCHITECTURES, resolve


def build_models(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    """Build the pair for images of ``shape`` (C, H, W) with ``d_outputs`` logits in D's head."""
    builder = resolve(ARCHITECTURES.get(config.model.architecture).builder)
    generator, discriminator = builder(config, shape, d_outputs)
    for net in (generator, discriminator):
        set_epsilons(net, config.model)
    return generator, discriminator


def set_epsilons(net: nn.Module, model: ModelConfig) -> None:
    """Batch norm's and weight norm's epsilons from the config (``model.bn_eps``, ``model.wn_eps``,
    ``model.wn_eps_placement``), whatever the architecture."""
    for module in net.modules():
        if isinstance(module, BatchNorm):
            module.eps = model.bn_eps
        elif isinstance(module, _WeightNormed):
            module.eps, module.eps_inside = model.wn_eps, model.wn_eps_placement == "inside"


__all__ = ["Discriminator", "Generator", "build_models"]
