"""The WGAN-GP paper's ResNet pair (Gulrajani et al. 2017, appendix F; its CIFAR-10 code,
gan_cifar_resnet.py), sized for 28x28 to 64x64 images.

G: z -> dense c x s x s -> residual up-blocks (BN, ReLU, nearest 2x upsampling, conv3x3, BN, ReLU,
   conv3x3; shortcut: upsampling and conv1x1) until the image size -> BN, ReLU, conv3x3 to C, tanh.
   s = 4 for 32x32 (three up-blocks, as the paper) and 7 for 28x28 (two).
D (the critic): an optimised first down-block (conv3x3, ReLU, conv3x3, mean-pool; shortcut mean-pool,
   conv1x1), a down-block, two plain blocks, ReLU, global mean pool, dense. No normalisation: the
   gradient penalty is per example. c = 128 x model.width in both.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Discriminator, Generator, Head, scaled
from gan_engine.nn import BatchNorm


def base_size(size: int, smallest: int = 4, most: int = 4) -> tuple[int, int]:
    """(s, n): halve ``size`` n times while it stays even and at least ``smallest``."""
    s, n = size, 0
    while s % 2 == 0 and s // 2 >= smallest and n < most:
        s, n = s // 2, n + 1
    return s, n


def _conv(n_in: int, n_out: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, k, padding=k // 2)


class UpBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        up = nn.Upsample(scale_factor=2, mode="nearest")
        self.main = nn.Sequential(
            BatchNorm(n_in, gain=True), nn.ReLU(), up, _conv(n_in, n_out),
            BatchNorm(n_out, gain=True), nn.ReLU(), _conv(n_out, n_out),
        )  # fmt: skip
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(n_in, n_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """``first``: the optimised block that reads the image (no activation before its first conv)."""

    def __init__(self, n_in: int, n_out: int, first: bool = False, down: bool = True):
        super().__init__()
        pool = [nn.AvgPool2d(2)] if down else []
        layers = [] if first else [nn.ReLU()]
        self.main = nn.Sequential(*layers, _conv(n_in, n_out), nn.ReLU(), _conv(n_out, n_out), *pool)
        if down or n_in != n_out:
            self.shortcut: nn.Module = nn.Sequential(*pool, _conv(n_in, n_out, 1))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(x)


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    channels, size = shape[0], shape[1]
    z_dim = config.model.z_dim
    c = scaled(128, config)
    s, ups = base_size(size)
    net = nn.Sequential(
        nn.Linear(z_dim, c * s * s),
        nn.Unflatten(1, (c, s, s)),
        *[UpBlock(c, c) for _ in range(ups)],
        BatchNorm(c, gain=True), nn.ReLU(), _conv(c, channels), nn.Tanh(),
    )  # fmt: skip
    blocks = [
        DownBlock(channels, c, first=True),
        DownBlock(c, c),
        DownBlock(c, c, down=False),
        nn.Sequential(DownBlock(c, c, down=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1)),
    ]
    return Generator(net, z_dim, shape), Discriminator(blocks, Head(c, d_outputs, config))
