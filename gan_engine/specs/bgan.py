"""Boundary-seeking GAN (``recipes.bgan``): importance weights of an f-divergence train G, on binarised
images (discrete) or continuous ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import recipe, setting
from gan_engine.specs import PLAIN

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig

MODES = ("discrete", "continuous")
DIVERGENCES = ("kl", "reverse_kl", "js", "pearson", "squared_hellinger")


@dataclass(frozen=True)
class BGANOptions:
    bgan_mode: str = setting("discrete", "bgan: binarised images and a Bernoulli G, or continuous", MODES)
    bgan_divergence: str = setting("js", "bgan: the f-divergence whose importance weights train G", DIVERGENCES)
    bgan_samples: int = setting(20, "bgan discrete: samples M per latent over which the weights are normalised")

    def check(self, errors: dict[str, str]) -> None:
        if self.bgan_mode not in MODES:
            errors["gans.bgan_mode"] = "must be discrete or continuous"
        if self.bgan_divergence not in DIVERGENCES:
            errors["gans.bgan_divergence"] = f"must be one of {', '.join(DIVERGENCES)}"
        if self.bgan_samples < 2:
            errors["gans.bgan_samples"] = "must be at least 2: the weights are normalised over the M samples"


@recipe(
    "bgan",
    "gan_engine.recipes.bgan:BGAN",
    "boundary-seeking GAN (Hjelm et al. 2018): discrete (binarised, importance-weighted) or continuous",
    defaults={
        "model": {"architecture": "dcgan_bernoulli", **PLAIN},
        "optim": {"lr": 1e-4, "beta1": 0.5, "batch_size": 64},
        "gans": {"bgan_mode": "discrete", "bgan_divergence": "js", "bgan_samples": 20},
    },
    options=(BGANOptions,),
    architectures=("dcgan_bernoulli",),
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Nothing beyond the options' own checks."""
