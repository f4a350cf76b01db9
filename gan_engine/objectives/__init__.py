"""Losses as pure functions of logits and features, tested against direct computations."""

from gan_engine.objectives.adversarial import discriminator_loss, generator_loss, minimax_generator_loss, realness
from gan_engine.objectives.feature_matching import feature_matching_loss
from gan_engine.objectives.historical_averaging import HistoricalAverage
from gan_engine.objectives.semi_supervised import supervised_loss

__all__ = [
    "HistoricalAverage",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_loss",
    "minimax_generator_loss",
    "realness",
    "supervised_loss",
]
