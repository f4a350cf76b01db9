"""The supervised baseline (``recipes.supervised``): the K+1 recipe's classifier on the labelled examples alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gan_engine.registry import recipe

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


@recipe(
    "supervised",
    "gan_engine.recipes.supervised:Supervised",
    "baseline: the K+1 recipe's classifier trained on the labelled examples alone (no GAN)",
    defaults={"data": {"labels": 100}, "model": {"architecture": "paper_mlp"}, "optim": {"lr": 0.003}},
    switches=frozenset({"model.weight_norm", "model.gaussian_noise"}),
    supports_labels=True,
    requires_labels=True,
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Nothing beyond the shared sections' checks (``config.validate``), which require its labels."""
