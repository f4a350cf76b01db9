"""CycleGAN's networks (Zhu, Park, Isola & Efros 2017, appendix 7.2; Johnson et al. 2016's
translation net), sized for small images.

G: reflection pad, conv7x7 to c, IN, ReLU -> two stride-2 conv3x3 (2c, 4c), IN, ReLU -> 6 residual
   blocks (conv3x3, IN, ReLU, conv3x3, IN; the paper's count for 128x128) -> two stride-2 transposed
   conv3x3 (2c, c), IN, ReLU -> reflection pad, conv7x7 to C, tanh. c = 64 x model.width.
D: the 70x70 PatchGAN: 4x4 convs C64 (stride 2, no norm), C128, C256 (stride 2), C512 (stride 1),
   each IN + LeakyReLU 0.2 but the first, then a 4x4 conv to one score per patch.
Instance norm has no affine parameters and no running statistics (the paper's code).

``TranslationGenerator`` maps images to images. So that the engine's grids, pools and scoring work
unchanged, it also takes a latent: z[:, 0] in [0, 1) picks one of ``BANK`` source-domain images held
in a buffer (the recipe fills it; checkpoints carry it), which it then translates.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Generator, scaled
from gan_engine.training.data import to_model_range

BANK = 256
RESIDUAL_BLOCKS = 6


def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(c), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def translator(channels: int, c: int) -> nn.Sequential:
    net = nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(channels, c, 7), _norm(c), nn.ReLU(),
        nn.Conv2d(c, 2 * c, 3, 2, 1), _norm(2 * c), nn.ReLU(),
        nn.Conv2d(2 * c, 4 * c, 3, 2, 1), _norm(4 * c), nn.ReLU(),
        *[ResidualBlock(4 * c) for _ in range(RESIDUAL_BLOCKS)],
        nn.ConvTranspose2d(4 * c, 2 * c, 3, 2, 1, output_padding=1), _norm(2 * c), nn.ReLU(),
        nn.ConvTranspose2d(2 * c, c, 3, 2, 1, output_padding=1), _norm(c), nn.ReLU(),
        nn.ReflectionPad2d(3), nn.Conv2d(c, channels, 7), nn.Tanh(),
    )  # fmt: skip
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
    return net


def patch_discriminator(channels: int, c: int) -> nn.Sequential:
    widths = [c, 2 * c, 4 * c, 8 * c]
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
    for i in range(1, 4):
        stride = 2 if i < 3 else 1
        layers += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1), _norm(widths[i]), nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(widths[3], 1, 4, 1, 1))
    net = nn.Sequential(*layers)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
    return net


class TranslationGenerator(Generator):
    def __init__(self, net: nn.Module, z_dim: int, shape: tuple[int, int, int]):
        super().__init__(net, z_dim, shape)
        self.register_buffer("bank", torch.zeros(BANK, *shape, dtype=torch.uint8))

    @torch.no_grad()
    def fill_bank(self, images: torch.Tensor) -> None:
        """``images``: uint8 (BANK, C, H, W) from the source domain."""
        self.bank.copy_(images)

    def sources(self, z: torch.Tensor) -> torch.Tensor:
        index = (z[:, 0] * BANK).long().clamp(0, BANK - 1)
        return to_model_range(self.bank[index.to(self.bank.device)], "symmetric")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.sources(x) if x.dim() == 2 else x)


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[TranslationGenerator, nn.Module]:
    channels = shape[0]
    g_width, d_width = scaled(64, config), scaled(64, config)
    generator = TranslationGenerator(translator(channels, g_width), config.model.z_dim, shape)
    return generator, patch_discriminator(channels, d_width)
