"""DCGAN (Radford, Metz & Chintala 2016) with no batch norm in D, for per-example critics.

WGAN-GP (Gulrajani et al. 2017, section 4) removes batch norm from the critic because its gradient
penalty is taken per example, which batch statistics would couple; BGAN's discriminator scores each
of the M samples of a latent on its own for the same reason.

G: z -> dense 4c x s x s, BN, ReLU -> 4x4 transposed conv stride 2 to 2c, BN, ReLU -> 4x4 transposed
   conv stride 2 to C -> tanh (``build``) or sigmoid (``build_bernoulli``: Bernoulli probabilities)
   (s = size / 4, c = 64 x model.width; weights N(0, 0.02)).
D: 4x4 conv stride 2 to c, LeakyReLU 0.2 -> 4x4 conv stride 2 to 2c, LeakyReLU 0.2 -> dense.
"""

from __future__ import annotations

from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Discriminator, Generator, Head, scaled
from gan_engine.nn import BatchNorm


def generator_net(in_features: int, shape: tuple[int, int, int], config: TrainConfig, output: nn.Module):
    """DCGAN's generator body from ``in_features`` inputs, ending in ``output``."""
    channels, s = shape[0], shape[1] // 4
    c = scaled(64, config)
    net = nn.Sequential(
        nn.Linear(in_features, 4 * c * s * s, bias=False), BatchNorm(4 * c * s * s, gain=True), nn.ReLU(),
        nn.Unflatten(1, (4 * c, s, s)),
        nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1, bias=False), BatchNorm(2 * c, gain=True), nn.ReLU(),
        nn.ConvTranspose2d(2 * c, channels, 4, 2, 1), output,
    )  # fmt: skip
    for module in net.modules():
        if isinstance(module, nn.Linear | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, std=0.02)
    return net


def critic_blocks(in_channels: int, config: TrainConfig) -> tuple[list[nn.Module], int]:
    """D's two strided stages without normalisation; returns the blocks and their output channels."""
    c = scaled(64, config)
    first, second = nn.Conv2d(in_channels, c, 4, 2, 1), nn.Conv2d(c, 2 * c, 4, 2, 1)
    for layer in (first, second):
        nn.init.normal_(layer.weight, std=0.02)
    return [nn.Sequential(first, nn.LeakyReLU(0.2)), nn.Sequential(second, nn.LeakyReLU(0.2))], 2 * c


def _build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int, output: nn.Module):
    z_dim, s = config.model.z_dim, shape[1] // 4
    generator = Generator(generator_net(z_dim, shape, config, output), z_dim, shape)
    blocks, channels = critic_blocks(shape[0], config)
    return generator, Discriminator(blocks, Head(channels * s * s, d_outputs, config))


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    return _build(config, shape, d_outputs, nn.Tanh())


def build_bernoulli(
    config: TrainConfig, shape: tuple[int, int, int], d_outputs: int
) -> tuple[Generator, Discriminator]:
    return _build(config, shape, d_outputs, nn.Sigmoid())
