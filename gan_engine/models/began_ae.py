"""BEGAN's networks (Berthelot, Schumm & Metz 2017, figure 1), sized for 28x28 to 64x64 images.

Decoder (G, and D's second half): dense h -> n x s x s, then per scale two conv3x3 + ELU and a
nearest 2x upsampling, until the image size; two more conv3x3 + ELU and a conv3x3 to C channels with
no output non-linearity (as the paper). Encoder (D's first half): conv3x3 to n, then per scale two
conv3x3 + ELU and a stride-2 conv3x3 widening by n (n, 2n, 3n, ...), two conv3x3 + ELU at s x s and
a dense layer to the embedding h. s = 8 for 32x32 and 64x64, 7 for 28x28; n = 64 x model.width;
h = model.z_dim (64, the paper's N_z = h). G and D's decoder share the design, not the weights.
G first maps the engine's z ~ U[0, 1) to the paper's U[-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Generator, scaled
from gan_engine.models.resnet import base_size


def _conv(n_in: int, n_out: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride, 1), nn.ELU())


def decoder(h: int, n: int, s: int, ups: int, channels: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(h, n * s * s), nn.Unflatten(1, (n, s, s))]
    for _ in range(ups):
        layers += [_conv(n, n), _conv(n, n), nn.Upsample(scale_factor=2, mode="nearest")]
    layers += [_conv(n, n), _conv(n, n), nn.Conv2d(n, channels, 3, 1, 1)]
    return nn.Sequential(*layers)


def encoder(h: int, n: int, s: int, downs: int, channels: int) -> nn.Sequential:
    layers: list[nn.Module] = [_conv(channels, n)]
    width = n
    for level in range(downs):
        layers += [_conv(width, width), _conv(width, width), _conv(width, n * (level + 2), stride=2)]
        width = n * (level + 2)
    layers += [_conv(width, width), _conv(width, width), nn.Flatten(), nn.Linear(width * s * s, h)]
    return nn.Sequential(*layers)


class SymmetricLatent(nn.Module):
    """The engine's z ~ U[0, 1) as the paper's U[-1, 1]: the same spread per coordinate, centred."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 2 * z - 1


class AutoEncoder(nn.Module):
    """BEGAN's discriminator: returns the reconstruction of its input."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def glorot(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights, zero biases: TensorFlow's default, which BEGAN's public code relies on.
    PyTorch's smaller default shrinks the signal through the deep ELU decoder until G's output barely
    depends on z, and G then starts, and stays, collapsed onto one image."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, AutoEncoder]:
    channels, size = shape[0], shape[1]
    h, n = config.model.z_dim, scaled(64, config)
    s, levels = base_size(size, smallest=6)
    generator = Generator(nn.Sequential(SymmetricLatent(), glorot(decoder(h, n, s, levels, channels))), h, shape)
    autoencoder = AutoEncoder(encoder(h, n, s, levels, channels), decoder(h, n, s, levels, channels))
    return generator, glorot(autoencoder)
