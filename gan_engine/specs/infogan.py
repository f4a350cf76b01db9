"""InfoGAN (``recipes.infogan``): latent codes in z's first slots, recovered by a head Q on D's trunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import recipe, setting
from gan_engine.specs import PLAIN

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


@dataclass(frozen=True)
class InfoGANOptions:
    info_categories: int = setting(10, "infogan: categories of the categorical code (0: no categorical code)")
    info_continuous: int = setting(2, "infogan: continuous codes, each U(-1, 1)")
    info_weight: float = setting(1.0, "infogan: weight lambda of the mutual-information term")

    def check(self, errors: dict[str, str]) -> None:
        if self.info_weight < 0:
            errors["gans.info_weight"] = "must not be negative"
        if self.info_continuous < 0:
            errors["gans.info_continuous"] = "must not be negative"
        if self.info_categories == 1 or self.info_categories < 0:
            errors["gans.info_categories"] = "must be 0 (no categorical code) or at least 2"


@recipe(
    "infogan",
    "gan_engine.recipes.infogan:InfoGAN",
    "InfoGAN (Chen et al. 2016): categorical and continuous codes learnt through a mutual-information term",
    defaults={
        "model": {"architecture": "infogan", "z_dim": 65, **PLAIN},
        "optim": {"lr": 2e-4, "beta1": 0.5, "batch_size": 64},
        "gans": {"info_categories": 10, "info_continuous": 2, "info_weight": 1.0},
    },
    options=(InfoGANOptions,),
    architectures=("infogan",),
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """There is a code, and z has room for noise beside it."""
    g = config.gans
    if g.info_categories == 0 and g.info_continuous == 0:
        errors["gans.info_categories"] = "infogan needs a code: set info_categories or info_continuous"
    slots = (1 if g.info_categories else 0) + g.info_continuous
    if config.model.z_dim <= slots:
        errors["model.z_dim"] = f"must exceed the {slots} code slots it carries, leaving room for noise"
