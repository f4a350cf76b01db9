"""ProGAN's layers (Karras, Aila, Laine & Lehtinen 2018, section 4): equalized learning rate,
pixel-wise feature normalisation and the minibatch standard deviation.

Equalized learning rate: weights are drawn from N(0, 1) and scaled at run time by He's constant
gain * sqrt(1 / fan_in), so Adam's scale-invariant steps move every layer at the same speed.
Pixel norm: b = a / sqrt(mean over channels of a^2 + 1e-8), after every conv of G.
Minibatch stddev: the standard deviation of each feature over a group of (up to) 4 examples,
averaged to one number per group and appended as a constant feature map near D's end.
Normal latent: the paper draws z ~ N(0, I) (then pixel-normalises it onto the sphere); the engine
draws z ~ U[0, 1), so z passes through the inverse normal CDF first. Pixel-normalised uniform
latents would all point near (1, ..., 1) (cosine 0.75 between two draws), which collapses G's modes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedLinear(nn.Module):
    def __init__(self, n_in: int, n_out: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = gain / math.sqrt(n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    def __init__(self, n_in: int, n_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = gain / math.sqrt(n_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        # The largest group size up to 4 that divides the batch, so no example is left out.
        g = next(size for size in range(min(self.group_size, n), 0, -1) if n % size == 0)
        y = x.reshape(g, n // g, *x.shape[1:])
        std = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()
        stat = std.mean(dim=(1, 2, 3))  # one number per group member position
        return torch.cat([x, stat.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


class NormalLatent(nn.Module):
    """U[0, 1) -> N(0, 1) per coordinate: sqrt(2) * erfinv(2u - 1)."""

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2) * torch.erfinv((2 * u - 1).clamp(-1 + 1e-6, 1 - 1e-6))
