"""Real-vs-generated losses on a "realness" logit r, with D(x) = sigmoid(r).

For the K+1 classifier r = logsumexp(l): D(x) = Z / (Z + 1) is the probability of "not generated".
For a plain discriminator with one output, r is that output. One formula then serves both:

    D's loss    = 0.5 * mean(-alpha * r_real + softplus(r_real)) + 0.5 * mean(softplus(r_fake))

which with alpha = 1 is the public code's ``loss_unl`` (0.5 * [-mean(l_unl) + mean(softplus(l_unl))
+ mean(softplus(l_fake))]), and with alpha < 1 is binary cross-entropy against the one-sided smoothed
target alpha for real data (section 3.4; generated targets stay 0).

G's loss is the non-saturating -mean(log D(G(z))) = mean(softplus(-r_fake)). The paper's CIFAR
minibatch code minimises -mean(softplus(r_fake)) (the minimax form); both share the fixed point, and
the non-saturating one keeps G's gradient alive early, when D rejects every sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def realness(logits: torch.Tensor) -> torch.Tensor:
    return logits[:, 0] if logits.shape[1] == 1 else torch.logsumexp(logits, dim=1)


def discriminator_loss(r_real: torch.Tensor, r_fake: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    real = (-alpha * r_real + F.softplus(r_real)).mean()
    return 0.5 * real + 0.5 * F.softplus(r_fake).mean()


def generator_loss(r_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-r_fake).mean()


def minimax_generator_loss(r_fake: torch.Tensor) -> torch.Tensor:
    """mean(log(1 - D(G(z)))) = -mean(softplus(r_fake)): the paper's minibatch-discrimination script
    (train_cifar_minibatch_discrimination.py, line 106)."""
    return -F.softplus(r_fake).mean()
