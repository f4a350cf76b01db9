"""BEGAN (Berthelot, Schumm & Metz 2017, "BEGAN: Boundary Equilibrium Generative Adversarial
Networks", section 3).

Losses (``objectives.began``): D is an auto-encoder with L(v) = mean |v - D(v)|;
    L_D = L(x) - k_t * L(G(z_D)),   L_G = L(G(z_G)),
    k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z_G))), 0, 1),  k_0 = 0.
Logged each step: k_t, L(x), and the convergence measure M_global = L(x) + |gamma L(x) - L(G(z_G))|,
which ``evaluate`` also reports as a metric (its value at the last step).
Defaults, as the paper: gamma = 0.5, lambda_k = 0.001, h = N_z = 64, n = 64 filters, batch 16, Adam
lr 1e-4 (beta1 = 0.5). The paper halves the learning rate whenever M_global stalls; here the
engine's schedule (``optim.lr_decay_start``) applies instead, so runs stay a function of the config.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_engine.config import TrainConfig
from gan_engine.nn import frozen
from gan_engine.objectives.began import Equilibrium, convergence_measure, reconstruction_error
from gan_engine.recipes.base import TwoPlayerRecipe
from gan_engine.training.data import TrainingData


class BEGAN(TwoPlayerRecipe):
    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device)
        self.equilibrium = Equilibrium().to(device)
        self.m_global: torch.Tensor | None = None

    def extra_state(self) -> dict[str, Any]:
        return {"equilibrium": self.equilibrium}

    def _error(self, x: torch.Tensor) -> torch.Tensor:
        return reconstruction_error(x, self.discriminator(x))

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o, gans = self.config.optim, self.config.gans
        self.apply_lr(step)
        g = self.generator
        k = self.equilibrium.k.clone()

        real = self.data.real(step)
        with torch.no_grad():
            fake_d = g(g.sample_z(o.batch_size))
        loss_real = self._error(real)
        loss_d = loss_real - k * self._error(fake_d)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        with frozen(self.discriminator):
            loss_g = self._error(g(g.sample_z(o.batch_size)))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        self.equilibrium.update(loss_real, loss_g, gans.began_gamma, gans.began_lambda_k)
        self.m_global = convergence_measure(loss_real.detach(), loss_g.detach(), gans.began_gamma)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "loss_real": loss_real.detach(),
            "k": k,
            "m_global": self.m_global,
        }

    def evaluate(self) -> dict[str, float]:
        return {} if self.m_global is None else {"m_global": float(self.m_global)}
