"""BEGAN's losses (Berthelot, Schumm & Metz 2017, "BEGAN: Boundary Equilibrium GANs").

D is an auto-encoder; L(v) = |v - D(v)|^eta is its pixel-wise reconstruction error (eta = 1, the
mean absolute error). With the equilibrium variable k_t (k_0 = 0):
    L_D = L(x) - k_t * L(G(z_D))          L_G = L(G(z_G))
    k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z_G))), 0, 1)
gamma = E[L(G(z))] / E[L(x)] is the diversity ratio the equilibrium aims for (0.5 here; the paper
uses 0.3 to 0.7) and lambda_k = 0.001. The convergence measure
    M_global = L(x) + |gamma * L(x) - L(G(z_G))|
falls as training converges; the recipe logs it.
"""

from __future__ import annotations

import torch
from torch import nn


def reconstruction_error(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    return (x - reconstruction).abs().mean()


def updated_k(k: torch.Tensor, loss_real: torch.Tensor, loss_fake: torch.Tensor, gamma: float, lambda_k: float):
    return (k + lambda_k * (gamma * loss_real - loss_fake)).clamp(0.0, 1.0)


def convergence_measure(loss_real: torch.Tensor, loss_fake: torch.Tensor, gamma: float) -> torch.Tensor:
    return loss_real + (gamma * loss_real - loss_fake).abs()


class Equilibrium(nn.Module):
    """k_t as a buffer, so a checkpoint resumes it with the networks."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.zeros(()))

    @torch.no_grad()
    def update(self, loss_real: torch.Tensor, loss_fake: torch.Tensor, gamma: float, lambda_k: float) -> None:
        self.k.copy_(updated_k(self.k, loss_real.detach(), loss_fake.detach(), gamma, lambda_k))
