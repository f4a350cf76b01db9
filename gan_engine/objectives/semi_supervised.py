"""The supervised half of the paper's K+1 classifier (section 5).

D has K logits l; the "generated" class is an implicit (K+1)-th logit fixed at 0, so
p(y = k | x) = exp(l_k) / (Z + 1) with Z = sum_k exp(l_k). On labelled data the loss is the
K-class cross-entropy, written as in the public code: -mean(l[y]) + mean(logsumexp(l)).
The unsupervised half is the adversarial loss on the realness logsumexp(l) (see ``adversarial``).
"""

from __future__ import annotations

import torch


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    picked = logits.gather(1, labels[:, None]).squeeze(1)
    return -picked.mean() + torch.logsumexp(logits, dim=1).mean()
