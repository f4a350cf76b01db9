"""DCGAN (Radford, Metz & Chintala, 2016), sized for 28x28 and 32x32 images: the baseline.

G: z -> dense 4c x s x s, BN, ReLU -> 4x4 transposed conv stride 2 to 2c, BN, ReLU -> to C, tanh
   (s = size / 4, c = 64). D: 4x4 conv stride 2 to c, LeakyReLU 0.2 -> to 2c, BN, LeakyReLU -> dense.
D's batch norm mixes a batch's examples, so its minibatches are never concatenated into one pass.
"""

from __future__ import annotations

from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Discriminator, Generator, Head, scaled
from gan_engine.nn import WNConv2d, make_generator_norm


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    m, t = config.model, config.techniques
    channels, size = shape[0], shape[1]
    s = size // 4
    c = scaled(64, config)
    ref_size = config.optim.batch_size if t.virtual_batch_norm else 0

    def norm(features: int) -> nn.Module:
        return make_generator_norm(features, t.virtual_batch_norm, ref_size, gain=True)

    net = nn.Sequential(
        nn.Linear(m.z_dim, 4 * c * s * s, bias=False), norm(4 * c * s * s), nn.ReLU(),
        nn.Unflatten(1, (4 * c, s, s)),
        nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1, bias=False), norm(2 * c), nn.ReLU(),
        nn.ConvTranspose2d(2 * c, channels, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip
    for module in net.modules():
        if isinstance(module, nn.Linear | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, std=0.02)
    generator = Generator(net, m.z_dim, shape, ref_size)

    def conv(n_in: int, n_out: int) -> nn.Module:
        if m.weight_norm:
            return WNConv2d(n_in, n_out, 4, stride=2, padding=1)
        layer = nn.Conv2d(n_in, n_out, 4, 2, 1)
        nn.init.normal_(layer.weight, std=0.02)
        return layer

    blocks = [
        nn.Sequential(conv(channels, c), nn.LeakyReLU(0.2)),
        nn.Sequential(conv(c, 2 * c), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2)),
    ]
    head = Head(2 * c * s * s, d_outputs, config, noise=0.0)
    return generator, Discriminator(blocks, head, batch_independent=False)
