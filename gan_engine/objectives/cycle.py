"""CycleGAN's losses (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation").

Adversarial terms are least squares (LSGAN, Mao et al. 2017), which the paper found more stable
than the log loss: D minimises 0.5 * (E[(D(y) - 1)^2] + E[D(G(x))^2]) and G minimises
E[(D(G(x)) - 1)^2]. Cycle consistency: lambda * (E|F(G(a)) - a| + E|G(F(b)) - b|), lambda = 10.
Identity: lambda_id * lambda * (E|G(b) - b| + E|F(a) - a|), lambda_id = 0.5 (the paper's code;
the paper uses it to keep colours on photo <-> painting).
"""

from __future__ import annotations

import torch


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean())


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return (fake_scores - 1).pow(2).mean()


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor, weight: float) -> torch.Tensor:
    """One direction's term, weight * E|F(G(a)) - a|; the recipe adds both directions."""
    return weight * (reconstructed - original).abs().mean()


def identity_loss(mapped: torch.Tensor, original: torch.Tensor, weight: float) -> torch.Tensor:
    """weight * E|G(b) - b|: G applied to its own target domain should change nothing."""
    return weight * (mapped - original).abs().mean()
