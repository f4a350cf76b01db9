"""Boundary-seeking GAN (Hjelm, Jacob, Che, Trischler, Cho & Bengio 2018, "Boundary-Seeking
Generative Adversarial Networks", ICLR).

D is trained on the f-GAN bound of the chosen f-divergence (``gans.bgan_divergence``: kl,
reverse_kl, js (default; the GAN's), pearson or squared_hellinger); its output v gives the
importance weight w = (f*)'(g_f(v)), an estimate of p(x) / q(x) (``objectives.bgan``).

Continuous (``gans.bgan_mode`` = continuous): G minimises 0.5 * E[(log w(G(z)))^2], pulling its
samples onto D's decision boundary, where w = 1.
Discrete (the default): images are binarised (pixel > 1/2) and G outputs Bernoulli probabilities.
For each latent, M = ``gans.bgan_samples`` (20, as the paper) binary samples are drawn; their weights
are normalised over the M samples (softmax of log w), and G ascends the policy gradient
sum_m (w~_m - 1/M) grad log g(x_m | z), REINFORCE with the normalised weight as reward (variance
far below the unnormalised estimator's) and the mean weight as baseline. D's update sees one sample
per latent.
Defaults: the DCGAN pair with a sigmoid output and no batch norm in D (dcgan_bernoulli), Adam
lr 1e-4 and beta1 = 0.5, batch 64 latents. Grids and pools show G's probabilities (its mean image).
Logged: the effective sample size 1 / sum_m w~_m^2 of the weights (discrete; M when D is fooled).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.nn import frozen
from gan_engine.objectives.bgan import (
    continuous_generator_loss,
    discrete_generator_loss,
    discriminator_loss,
    log_weights,
    normalised_weights,
)
from gan_engine.recipes.base import TwoPlayerRecipe
from gan_engine.training.data import TrainingData


class BGAN(TwoPlayerRecipe):
    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device)
        g = self.generator
        if not isinstance(g.net, nn.Sequential) or not isinstance(g.net[-1], nn.Sigmoid):
            raise TypeError("BGAN needs a generator whose net ends in a sigmoid (its Bernoulli logits come before)")
        self.discrete = config.gans.bgan_mode == "discrete"

    def _v(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x)[0][:, 0]

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator.net[:-1](z)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o, gans = self.config.optim, self.config.gans
        self.apply_lr(step)
        g, divergence = self.generator, gans.bgan_divergence
        out: dict[str, torch.Tensor] = {}

        real = self.data.real(step)
        with torch.no_grad():
            probs = g(g.sample_z(o.batch_size))
        if self.discrete:
            real, fake = (real > 0.5).to(real.dtype), torch.bernoulli(probs)
        else:
            fake = probs
        loss_d = discriminator_loss(self._v(real), self._v(fake), divergence)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        with frozen(self.discriminator):
            z = g.sample_z(o.batch_size)
            if self.discrete:
                loss_g, ess = self._discrete_generator_loss(z, gans.bgan_samples, divergence)
                out["weight_ess"] = ess
            else:
                loss_g = continuous_generator_loss(self._v(g(z)), divergence)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **out}

    def _discrete_generator_loss(self, z: torch.Tensor, m: int, divergence: str):
        logits = self._logits(z)  # (B, C, H, W)
        b, shape = logits.shape[0], logits.shape[1:]
        expanded = logits.unsqueeze(1).expand(b, m, *shape)
        with torch.no_grad():
            samples = torch.bernoulli(torch.sigmoid(expanded))
            v = self._v(samples.reshape(b * m, *shape)).view(b, m)
        log_prob = -F.binary_cross_entropy_with_logits(expanded, samples, reduction="none").flatten(2).sum(2)
        weights = normalised_weights(log_weights(v, divergence))
        ess = (1.0 / weights.pow(2).sum(1)).mean()
        return discrete_generator_loss(log_prob, v, divergence), ess
