"""ProGAN's growing pair (Karras, Aila, Laine & Lehtinen 2018, table 2), for 8x8 to 128x128 images.

Stage i works at 4 * 2^i pixels; the last stage is the image size. Both networks hold the current
``stage`` and fade-in ``alpha`` as buffers, so a checkpoint (and sampling from it) knows how far
training had grown them.

G: z mapped to N(0, I) and pixel-normalised (``NormalLatent``, PN) -> dense to c x 4 x 4, LReLU,
   PN -> conv3x3, LReLU, PN; each later stage: nearest 2x upsampling, two conv3x3, each LReLU 0.2
   and pixel norm; ``to_rgb`` (conv1x1, linear output) per stage. While stage i fades in, the
   output is (1 - alpha) * upsampled to_rgb[i-1] + alpha * to_rgb[i]. ``forward`` upsamples to
   the full size (nearest) for grids and pools; ``forward_native`` gives the stage's own
   resolution for training.
D: ``from_rgb`` (conv1x1, LReLU) per stage; each stage's block: two conv3x3 + LReLU and 2x average
   pooling; the 4x4 block: minibatch stddev, conv3x3, dense to c, dense to 1. Fading mirrors G.
Channels: c(res) = min(128, 2048 / res) x model.width (the paper's 512 is for 1024x1024 work).
All layers use the equalized learning rate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Generator, scaled
from gan_engine.models.progan_layers import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    NormalLatent,
    PixelNorm,
)


def stages_for(size: int) -> int:
    return int(math.log2(size)) - 1


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _conv_act(n_in: int, n_out: int, normalise: bool = False) -> list[nn.Module]:
    """conv3x3 and LeakyReLU 0.2, then pixel norm in G."""
    return [EqualizedConv2d(n_in, n_out, 3), _act(), *([PixelNorm()] if normalise else [])]


class _Growing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))
        self.register_buffer("alpha", torch.ones(()))

    @torch.no_grad()
    def grow(self, stage: int, alpha: float) -> None:
        self.stage.fill_(stage)
        self.alpha.fill_(alpha)


class GrowingNet(_Growing):
    def __init__(self, z_dim: int, channels: list[int], out_channels: int):
        super().__init__()
        c0 = channels[0]
        self.first = nn.Sequential(
            NormalLatent(), PixelNorm(),
            EqualizedLinear(z_dim, c0 * 16), nn.Unflatten(1, (c0, 4, 4)), _act(), PixelNorm(),
            EqualizedConv2d(c0, c0, 3), _act(), PixelNorm(),
        )  # fmt: skip
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                *_conv_act(channels[i - 1], channels[i], normalise=True),
                *_conv_act(channels[i], channels[i], normalise=True),
            )
            for i in range(1, len(channels))
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, out_channels, 1, gain=1.0) for c in channels)
        self.size = 4 * 2 ** (len(channels) - 1)

    def forward_native(self, z: torch.Tensor) -> torch.Tensor:
        stage, alpha = int(self.stage), float(self.alpha)
        h, previous = self.first(z), None
        for i in range(1, stage + 1):
            previous, h = h, self.blocks[i - 1](h)
        out = self.to_rgb[stage](h)
        if previous is not None and alpha < 1:
            old = F.interpolate(self.to_rgb[stage - 1](previous), scale_factor=2, mode="nearest")
            out = torch.lerp(old, out, alpha)
        return out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.forward_native(z)
        factor = self.size // out.shape[-1]
        return out if factor == 1 else F.interpolate(out, scale_factor=factor, mode="nearest")


class GrowingCritic(_Growing):
    """Takes images at the current stage's resolution (``downsample`` gives them)."""

    def __init__(self, channels: list[int], in_channels: int):
        super().__init__()
        c0 = channels[0]
        self.from_rgb = nn.ModuleList(nn.Sequential(EqualizedConv2d(in_channels, c, 1), _act()) for c in channels)
        self.blocks = nn.ModuleList(
            nn.Sequential(*_conv_act(c, c), *_conv_act(c, channels[i - 1]), nn.AvgPool2d(2))
            for i, c in enumerate(channels)
            if i > 0
        )
        self.last = nn.Sequential(
            MinibatchStdDev(), EqualizedConv2d(c0 + 1, c0, 3), _act(), nn.Flatten(),
            EqualizedLinear(c0 * 16, c0), _act(), EqualizedLinear(c0, 1, gain=1.0),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stage, alpha = int(self.stage), float(self.alpha)
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage - 1](h)
            if alpha < 1:
                h = torch.lerp(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)), h, alpha)
        for i in range(stage - 1, 0, -1):
            h = self.blocks[i - 1](h)
        return self.last(h)[:, 0]


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    factor = images.shape[-1] // size
    return images if factor == 1 else F.avg_pool2d(images, factor)


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, GrowingCritic]:
    channels, size = shape[0], shape[1]
    widths = [scaled(min(128, 2048 // (4 * 2**i)), config) for i in range(stages_for(size))]
    net = GrowingNet(config.model.z_dim, widths, channels)
    return Generator(net, config.model.z_dim, shape), GrowingCritic(widths, channels)
