"""Wasserstein losses: WGAN (Arjovsky, Chintala & Bottou 2017) and WGAN-GP (Gulrajani et al. 2017).

The critic f estimates W(P_r, P_g) = max_{||f||_L <= 1} E_real[f(x)] - E_fake[f(x)]; it minimises
    critic loss = mean f(fake) - mean f(real)
and the generator minimises -mean f(G(z)). WGAN keeps f Lipschitz by clipping every weight to
[-c, c] (c = 0.01). WGAN-GP instead adds lambda * E[(||grad f(x_hat)||_2 - 1)^2] on random
interpolates x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per example (lambda = 10).
ProGAN adds the drift term epsilon * E[f(real)^2] (epsilon = 0.001) so the scores do not wander.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return fake_scores.mean() - real_scores.mean()


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """x_hat on the line between each real and fake example; eps from the global RNG, so resume is exact."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return (eps * real + (1 - eps) * fake).detach().requires_grad_(True)


def gradient_norms(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """||d critic / d x||_2 per example, differentiable (the penalty trains through it)."""
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    # The small constant keeps the square root differentiable where a gradient vanishes.
    return (grad.flatten(1).pow(2).sum(1) + 1e-12).sqrt()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, weight: float
) -> torch.Tensor:
    norms = gradient_norms(critic, interpolates(real, fake.detach()))
    return weight * (norms - 1).pow(2).mean()


def drift_penalty(real_scores: torch.Tensor, weight: float) -> torch.Tensor:
    return weight * real_scores.pow(2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """WGAN's crude Lipschitz constraint: every parameter into [-c, c] after each critic update."""
    for p in module.parameters():
        p.clamp_(-c, c)
