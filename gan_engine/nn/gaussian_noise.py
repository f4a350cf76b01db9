"""Additive Gaussian noise, active in training only (the paper's GaussianNoiseLayer).

Draws from torch's global generator, so a checkpoint's RNG state makes it resume exactly."""

from __future__ import annotations

import torch
from torch import nn


class GaussianNoise(nn.Module):
    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return x
        return torch.add(x, torch.randn_like(x), alpha=self.std)

    def extra_repr(self) -> str:
        return f"std={self.std}"
