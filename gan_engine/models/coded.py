"""Generators whose latent carries codes in its first slots: cGAN's class, InfoGAN's codes.

The engine draws z ~ U[0, 1)^z_dim for grids, pools and scoring, and feeds G nothing else, so the
codes live inside z: slot 0 (when there is a categorical code of K categories) gives the category
floor(z_0 * K); the next ``continuous`` slots give continuous codes 2 z_i - 1 ~ U(-1, 1); the rest is
noise. A uniform z then means uniformly drawn codes, exactly the prior cGAN and InfoGAN train with,
and ``latents`` writes chosen codes into z for grids that vary one code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.models.base import Generator


class CodedGenerator(Generator):
    def __init__(self, net: nn.Module, z_dim: int, shape: tuple[int, int, int], categories: int, continuous: int):
        super().__init__(net, z_dim, shape)
        self.categories, self.continuous = categories, continuous
        self.code_slots = (1 if categories else 0) + continuous

    @property
    def noise_dim(self) -> int:
        return self.z_dim - self.code_slots

    @property
    def input_dim(self) -> int:
        """Width of the network's input: noise, one-hot category, continuous codes."""
        return self.noise_dim + self.categories + self.continuous

    def category(self, z: torch.Tensor) -> torch.Tensor | None:
        if not self.categories:
            return None
        return (z[:, 0] * self.categories).floor().long().clamp(0, self.categories - 1)

    def continuous_codes(self, z: torch.Tensor) -> torch.Tensor | None:
        if not self.continuous:
            return None
        start = 1 if self.categories else 0
        return 2 * z[:, start : start + self.continuous] - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        parts = [z[:, self.code_slots :]]
        if self.categories:
            parts.append(F.one_hot(self.category(z), self.categories).to(z.dtype))
        if self.continuous:
            parts.append(self.continuous_codes(z))
        return self.net(torch.cat(parts, dim=1))

    def latents(
        self, z: torch.Tensor, category: torch.Tensor | None = None, continuous: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``z`` with its codes replaced: ``category`` (N,) indices, ``continuous`` (N, n) values, which
        may lie outside (-1, 1) to show a code's effect beyond its prior."""
        z = z.clone()
        if category is not None:
            z[:, 0] = (category.to(z.dtype) + 0.5) / self.categories
        if continuous is not None:
            start = 1 if self.categories else 0
            z[:, start : start + self.continuous] = (continuous.to(z.dtype) + 1) / 2
        return z
