"""Boundary-seeking GAN losses (Hjelm, Jacob, Che, Trischler, Cho & Bengio 2018, ICLR).

D is trained on the f-GAN lower bound of an f-divergence (Nowozin et al. 2016): with raw output v,
T = g_f(v) and D maximising E_real[T] - E_fake[f*(T)]. Given T, the density ratio p/q_theta is
estimated by the importance weight w = (f*)'(T). Per divergence (log w as a function of v):

    kl                 g_f(v) = v                   f*(T) = exp(T - 1)        log w = v - 1
    reverse_kl         g_f(v) = -exp(-v)            f*(T) = -1 - log(-T)      log w = v
    js (the GAN's)     g_f(v) = log 2 - softplus(-v) f*(T) = -log(2 - e^T)    log w = v  (w = D / (1 - D))
    pearson            g_f(v) = v                   f*(T) = T^2 / 4 + T       log w = log(v / 2 + 1)
    squared_hellinger  g_f(v) = 1 - exp(-v)         f*(T) = T / (1 - T)       log w = 2 v

Continuous data: G seeks the decision boundary, where w = 1, by minimising 0.5 * E[(log w(G(z)))^2]
(for the GAN's divergence 0.5 * (log D - log(1 - D))^2, the paper's eq. 11).
Discrete data: for each latent z, M samples x_m ~ g_theta(x | z) get normalised weights
w~_m = w(x_m) / sum_m' w(x_m') = softmax_m(log w(x_m)), and G follows the policy gradient
-E_z[sum_m w~_m grad log g_theta(x_m | z)]: REINFORCE whose reward is the normalised weight, which
needs no estimate of the partition function and so has far lower variance than w / beta. The mean
weight 1/M is subtracted as a baseline: sum_m grad log g(x_m | z) has expectation zero, so the
baseline changes no expectation, only removes that term's variance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DIVERGENCES = ("kl", "reverse_kl", "js", "pearson", "squared_hellinger")
_LOG2 = math.log(2.0)


def _check(divergence: str) -> None:
    if divergence not in DIVERGENCES:
        raise ValueError(f"unknown f-divergence {divergence!r}; choose one of {', '.join(DIVERGENCES)}")


def discriminator_loss(v_real: torch.Tensor, v_fake: torch.Tensor, divergence: str) -> torch.Tensor:
    """-(E_real[g_f(v)] - E_fake[f*(g_f(v))]), each f*(g_f(v)) written in a numerically safe form."""
    _check(divergence)
    if divergence == "kl":
        real, fake = v_real, torch.exp(v_fake - 1)
    elif divergence == "reverse_kl":
        real, fake = -torch.exp(-v_real), v_fake - 1
    elif divergence == "js":
        real, fake = _LOG2 - F.softplus(-v_real), F.softplus(v_fake) - _LOG2
    elif divergence == "pearson":
        real, fake = v_real, v_fake.pow(2) / 4 + v_fake
    else:  # squared_hellinger
        real, fake = 1 - torch.exp(-v_real), torch.exp(v_fake) - 1
    return fake.mean() - real.mean()


def log_weights(v: torch.Tensor, divergence: str) -> torch.Tensor:
    """log w = log (f*)'(g_f(v)): the estimated log density ratio log p(x) / q(x)."""
    _check(divergence)
    if divergence == "kl":
        return v - 1
    if divergence in ("reverse_kl", "js"):
        return v
    if divergence == "pearson":
        # w = v / 2 + 1 is negative where the bound says "no data here": a tiny weight, not a log of a negative.
        return torch.log((v / 2 + 1).clamp_min(1e-6))
    return 2 * v


def normalised_weights(log_w: torch.Tensor) -> torch.Tensor:
    """(B, M) log-weights -> weights normalised over each latent's M samples (rows sum to 1)."""
    return torch.softmax(log_w, dim=1)


def continuous_generator_loss(v_fake: torch.Tensor, divergence: str) -> torch.Tensor:
    return 0.5 * log_weights(v_fake, divergence).pow(2).mean()


def discrete_generator_loss(log_prob: torch.Tensor, v: torch.Tensor, divergence: str) -> torch.Tensor:
    """``log_prob`` (B, M): log g(x_m | z_b), differentiable; ``v`` (B, M): D's outputs on x_m (constants)."""
    weights = normalised_weights(log_weights(v.detach(), divergence))
    return -((weights - 1.0 / weights.shape[1]) * log_prob).sum(1).mean()
