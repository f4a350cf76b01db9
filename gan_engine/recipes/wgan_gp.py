"""WGAN-GP (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved Training of
Wasserstein GANs", algorithm 1).

Losses (``objectives.wasserstein``): the critic minimises
    mean f(G(z)) - mean f(x) + lambda * mean (||grad f(x_hat)||_2 - 1)^2,
x_hat = eps * x + (1 - eps) * G(z), eps ~ U[0, 1] per example; G minimises -mean f(G(z)).
Defaults, as the paper: lambda = 10, n_critic = 5, Adam lr 1e-4 with beta1 = 0 and beta2 = 0.9,
batch 64, no batch norm in the critic (``model.architecture`` dcgan_critic, or resnet: the paper's
ResNet). One engine step is one generator iteration, as in ``wgan``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from gan_engine.objectives.wasserstein import critic_loss, gradient_penalty
from gan_engine.recipes.base import TwoPlayerRecipe
from gan_engine.recipes.wgan import WGAN


class WGANGP(WGAN):
    def optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return TwoPlayerRecipe.optimizer(self, params)  # Adam, where WGAN has RMSProp

    def critic_objective(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_scores, fake_scores = self.critic(real), self.critic(fake)
        distance = critic_loss(real_scores, fake_scores)
        penalty = gradient_penalty(self.critic, real, fake, self.config.gans.gp_weight)
        return distance + penalty, {"wasserstein": -distance.detach(), "gradient_penalty": penalty.detach()}

    def after_critic_update(self) -> None:
        pass  # the penalty replaces clipping
