"""BEGAN (``recipes.began``): an auto-encoder D and the equilibrium variable k_t."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import recipe, setting
from gan_engine.specs import PLAIN

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


@dataclass(frozen=True)
class BEGANOptions:
    began_gamma: float = setting(0.5, "began: diversity ratio gamma = E[L(G(z))] / E[L(x)] the equilibrium aims for")
    began_lambda_k: float = setting(0.001, "began: learning rate lambda_k of the equilibrium variable k_t")

    def check(self, errors: dict[str, str]) -> None:
        if self.began_lambda_k < 0:
            errors["gans.began_lambda_k"] = "must not be negative"
        if not 0 < self.began_gamma <= 1:
            errors["gans.began_gamma"] = "must be in (0, 1]"


@recipe(
    "began",
    "gan_engine.recipes.began:BEGAN",
    "BEGAN (Berthelot et al. 2017): auto-encoder D, equilibrium k_t, convergence measure M_global",
    defaults={
        "model": {"architecture": "began", "z_dim": 64, **PLAIN},
        "optim": {"lr": 1e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 16},
        "gans": {"began_gamma": 0.5, "began_lambda_k": 0.001},
    },
    options=(BEGANOptions,),
    architectures=("began",),
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Nothing beyond the options' own checks."""
