"""InfoGAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets").

G's input carries latent codes c beside the noise: one categorical code of ``gans.info_categories``
(10) categories and ``gans.info_continuous`` (2) continuous codes ~ U(-1, 1), read from z's first
slots (``models.coded``), so z_dim 65 leaves the paper's 62 noise dimensions. Q, a head on D's trunk,
predicts c from G(z, c). Losses (``objectives.adversarial``, ``objectives.info``): the GAN log loss
(non-saturating for G), and both players also minimise lambda * L_I, L_I = cross-entropy of the
categorical code + 0.5 * (c - mu)^2 of the continuous ones (a unit-variance Gaussian Q, as the
official code's fixed std), which maximises the lower bound on I(c; G(z, c)); lambda = 1.
D's update trains Q (it owns Q's parameters, as the official code), G's update trains G.
Defaults: Adam lr 2e-4 and beta1 = 0.5 for both (the paper gives G 1e-3), batch 64.
Logged: ``loss_info`` and ``code_accuracy``, how often Q recovers the category of a generated image.
``code_grids.write_code_grids`` writes the grids that vary one code.
"""

from __future__ import annotations

import torch

from gan_engine.nn import frozen
from gan_engine.objectives.adversarial import discriminator_loss, generator_loss
from gan_engine.objectives.info import categorical_information_loss, continuous_information_loss
from gan_engine.recipes.base import TwoPlayerRecipe


class InfoGAN(TwoPlayerRecipe):
    def _information_loss(self, z: torch.Tensor, category_logits: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        g = self.generator
        loss = means.new_zeros(())
        if g.categories:
            loss = loss + categorical_information_loss(category_logits, g.category(z))
        if g.continuous:
            loss = loss + continuous_information_loss(means, g.continuous_codes(z))
        return loss

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o, weight = self.config.optim, self.config.gans.info_weight
        self.apply_lr(step)
        g, d = self.generator, self.discriminator

        real = self.data.real(step)
        z = g.sample_z(o.batch_size)
        with torch.no_grad():
            fake = g(z)
        real_logit, _, _ = d(real)
        fake_logit, category_logits, means = d(fake)
        info_d = self._information_loss(z, category_logits, means)
        loss_d = discriminator_loss(real_logit, fake_logit) + weight * info_d
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        with frozen(d):
            z = g.sample_z(o.batch_size)
            logit, category_logits, means = d(g(z))
            info = self._information_loss(z, category_logits, means)
            loss_g = generator_loss(logit) + weight * info
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "loss_info": info.detach()}
        if g.categories:
            out["code_accuracy"] = (category_logits.argmax(1) == g.category(z)).float().mean()
        return out
