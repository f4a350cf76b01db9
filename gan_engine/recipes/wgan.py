"""Wasserstein GAN (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", algorithm 1).

Losses (``objectives.wasserstein``): the critic f minimises mean f(G(z)) - mean f(x); after every
critic update each of its weights is clipped to [-c, c]; G minimises -mean f(G(z)).
Defaults, as the paper: c = 0.01, n_critic = 5 critic updates per generator update, RMSProp with
lr 5e-5, batch 64, the DCGAN pair (batch norm in both networks, as the paper's DCGAN experiments).
The paper's reference code also runs 100 critic updates for the first 25 and every 500th generator
iteration; algorithm 1, followed here, does not.

One engine step is one generator iteration: ``n_critic`` critic updates on the real batches at
positions step * n_critic + k, then one generator update. Logged: the critic's Wasserstein estimate
mean f(x) - mean f(G(z)), which should fall as samples improve.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from gan_engine.nn import frozen
from gan_engine.objectives.wasserstein import clip_weights, critic_loss, generator_loss
from gan_engine.recipes.base import TwoPlayerRecipe


class WGAN(TwoPlayerRecipe):
    def optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(params, lr=self.config.optim.lr)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x)[0][:, 0]

    def critic_objective(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critic's loss and what to log about it; WGAN-GP adds its penalty here."""
        real_scores, fake_scores = self.critic(real), self.critic(fake)
        loss = critic_loss(real_scores, fake_scores)
        return loss, {"wasserstein": -loss.detach()}

    def after_critic_update(self) -> None:
        clip_weights(self.discriminator, self.config.gans.clip_value)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o, n = self.config.optim, self.config.gans.n_critic
        self.apply_lr(step)
        g = self.generator
        for k in range(n):
            real = self.data.real(step * n + k)
            with torch.no_grad():
                fake = g(g.sample_z(o.batch_size))
            loss_d, out = self.critic_objective(real, fake)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            self.after_critic_update()

        with frozen(self.discriminator):
            loss_g = generator_loss(self.critic(g(g.sample_z(o.batch_size))))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **out}
