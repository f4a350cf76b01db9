"""InfoGAN's mutual-information term (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016).

G and the auxiliary head Q (sharing D's trunk) maximise the variational lower bound
L_I = E[log Q(c | G(z, c))] + H(c) <= I(c; G(z, c)); both minimise lambda * (-L_I), dropping the
constant H(c). For a categorical code that is the cross-entropy of Q's logits against the code;
for a continuous code, Q is a factored Gaussian of unit variance (the official code's fixed std),
so -log Q = 0.5 * (c - mu)^2 + const, summed over codes. lambda = 1, as in the paper's MNIST code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def categorical_information_loss(logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``codes``: category indices (N,)."""
    return F.cross_entropy(logits, codes)


def continuous_information_loss(means: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``means``, ``codes``: (N, n_cont); the Gaussian NLL of unit variance, constants dropped."""
    return 0.5 * (codes - means).pow(2).sum(1).mean()
