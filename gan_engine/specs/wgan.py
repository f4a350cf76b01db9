"""Wasserstein GANs (``recipes.wgan``, ``recipes.wgan_gp``): a critic trained ``n_critic`` times per generator
update, kept Lipschitz by weight clipping (wgan) or a gradient penalty (wgan_gp; progan too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import recipe, setting
from gan_engine.specs import PLAIN

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


@dataclass(frozen=True)
class CriticOptions:
    n_critic: int = setting(5, "critic updates per generator update (wgan, wgan_gp, progan)")
    clip_value: float = setting(0.01, "wgan: every critic weight is clipped to [-c, c] after each update")
    gp_weight: float = setting(10.0, "wgan_gp, progan: weight lambda of the gradient penalty on interpolates")

    def check(self, errors: dict[str, str]) -> None:
        if self.n_critic < 1:
            errors["gans.n_critic"] = "must be at least 1"
        if self.clip_value <= 0:
            errors["gans.clip_value"] = "must be positive"
        if self.gp_weight < 0:
            errors["gans.gp_weight"] = "must not be negative"


@recipe(
    "wgan",
    "gan_engine.recipes.wgan:WGAN",
    "Wasserstein GAN (Arjovsky et al. 2017): critic with weight clipping, RMSProp, n_critic = 5",
    defaults={
        "model": {"architecture": "dcgan", **PLAIN},
        "optim": {"lr": 5e-5, "batch_size": 64},
        "gans": {"n_critic": 5, "clip_value": 0.01},
    },
    options=(CriticOptions,),
    architectures=("dcgan_critic", "dcgan", "resnet"),
)
@recipe(
    "wgan_gp",
    "gan_engine.recipes.wgan_gp:WGANGP",
    "WGAN-GP (Gulrajani et al. 2017): gradient penalty on interpolates, Adam (0, 0.9), DCGAN or ResNet",
    defaults={
        "model": {"architecture": "dcgan_critic", **PLAIN},
        "optim": {"lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "batch_size": 64},
        "gans": {"n_critic": 5, "gp_weight": 10.0},
    },
    options=(CriticOptions,),
    architectures=("dcgan_critic", "resnet"),  # the penalty is per example: no batch norm in the critic
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Nothing beyond the options' own checks."""
