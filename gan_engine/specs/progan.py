"""Progressive growing (``recipes.progan``): WGAN-GP's critic (``wgan.CriticOptions``) with a drift term,
trained from 4x4 up through fade-in and stable phases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import recipe, setting
from gan_engine.specs import PLAIN
from gan_engine.specs.wgan import CriticOptions

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


@dataclass(frozen=True)
class ProGANOptions:
    progan_phase_steps: int = setting(0, "progan: steps per fade-in and per stable phase (0: the run split evenly)")
    progan_drift: float = setting(0.001, "progan: weight epsilon of the drift penalty on D(real)^2")

    def check(self, errors: dict[str, str]) -> None:
        if self.progan_drift < 0:
            errors["gans.progan_drift"] = "must not be negative"
        if self.progan_phase_steps < 0:
            errors["gans.progan_phase_steps"] = "must not be negative"


@recipe(
    "progan",
    "gan_engine.recipes.progan:ProGAN",
    "progressive growing (Karras et al. 2018) from 4x4 with fade-in, WGAN-GP loss with drift",
    defaults={
        "data": {"image_size": 32},
        "model": {"architecture": "progan", "z_dim": 128, **PLAIN},
        "optim": {"lr": 1e-3, "beta1": 0.0, "beta2": 0.99, "batch_size": 64},
        "gans": {"n_critic": 1, "gp_weight": 10.0, "progan_drift": 0.001},
    },
    options=(CriticOptions, ProGANOptions),
    architectures=("progan",),
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Nothing beyond the options' own checks."""
