"""Feature matching (section 3.1): G matches the batch mean of D's features on real data.

The public code uses the mean squared difference of the means on MNIST and the mean absolute
difference on CIFAR-10; ``distance`` picks between them."""

from __future__ import annotations

import torch


def feature_matching_loss(real: torch.Tensor, fake: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    diff = real.mean(dim=0) - fake.mean(dim=0)
    if distance == "l2":
        return diff.pow(2).mean()
    if distance == "l1":
        return diff.abs().mean()
    raise ValueError(f"unknown feature-matching distance {distance!r}")
