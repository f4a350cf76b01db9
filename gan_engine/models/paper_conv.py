"""The paper's CIFAR-10 / SVHN pair (openai/improved-gan,
mnist_svhn_cifar10/train_cifar_feature_matching.py and train_cifar_minibatch_discrimination.py).

G: z ~ U[0,1)^100 -> dense 4*4*512, BN (no gain), ReLU -> 5x5 transposed conv stride 2 to 256 (8x8)
   and 128 (16x16), each BN + ReLU -> weight-normed 5x5 transposed conv to C channels (32x32)
   (trainable scale, init std 0.1), tanh. Weights N(0, 0.05).
D: dropout 0.2 on the input (the minibatch-discrimination variant uses Gaussian noise 0.2 instead:
   ``model.input_noise`` with ``model.gaussian_noise``) -> 3x conv3x3 96 (the third stride 2),
   dropout 0.5 -> 3x conv3x3 192 (the third stride 2), dropout 0.5 -> conv3x3 192 without padding
   -> 2x NIN (1x1 conv) 192 -> global mean pool -> [minibatch features] -> dense K.
   All weight-normed, LeakyReLU 0.2. Feature matching reads the global pool's output.
"""

from __future__ import annotations

from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Discriminator, Generator, Head, d_scaled, scaled
from gan_engine.nn import GaussianNoise, WNConv2d, WNConvTranspose2d, make_generator_norm


def _conv(n_in: int, n_out: int, k: int, stride: int, pad: int, weight_norm: bool) -> nn.Module:
    if weight_norm:
        return WNConv2d(n_in, n_out, k, stride=stride, padding=pad)
    return nn.Conv2d(n_in, n_out, k, stride, pad)


def _up(n_in: int, n_out: int) -> nn.ConvTranspose2d:
    # 5x5, stride 2, "half" padding: doubles the size like the code's Deconv2DLayer.
    layer = nn.ConvTranspose2d(n_in, n_out, 5, stride=2, padding=2, output_padding=1, bias=False)
    nn.init.normal_(layer.weight, std=0.05)
    return layer


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    m, t = config.model, config.techniques
    channels = shape[0]
    ref_size = config.optim.batch_size if t.virtual_batch_norm else 0
    c512, c256, c128 = (scaled(c, config) for c in (512, 256, 128))

    dense = nn.Linear(m.z_dim, 4 * 4 * c512, bias=False)
    nn.init.normal_(dense.weight, std=0.05)
    if m.weight_norm:
        out = WNConvTranspose2d(
            c128, channels, 5, stride=2, padding=2, output_padding=1, train_scale=True, init_stdv=0.1
        )
    else:
        out = nn.ConvTranspose2d(c128, channels, 5, stride=2, padding=2, output_padding=1)
    net = nn.Sequential(
        dense, make_generator_norm(4 * 4 * c512, t.virtual_batch_norm, ref_size), nn.ReLU(),
        nn.Unflatten(1, (c512, 4, 4)),
        _up(c512, c256), make_generator_norm(c256, t.virtual_batch_norm, ref_size), nn.ReLU(),
        _up(c256, c128), make_generator_norm(c128, t.virtual_batch_norm, ref_size), nn.ReLU(),
        out, nn.Tanh(),
    )  # fmt: skip
    generator = Generator(net, m.z_dim, shape, ref_size)

    c96, c192 = d_scaled(96, config), d_scaled(192, config)
    wn = m.weight_norm
    first: list[nn.Module] = []
    if m.gaussian_noise and m.input_noise:
        first.append(GaussianNoise(m.input_noise))
    if m.input_dropout:
        first.append(nn.Dropout(m.input_dropout))
    act = nn.LeakyReLU(0.2)
    blocks = [
        nn.Sequential(*first, _conv(channels, c96, 3, 1, 1, wn), act),
        nn.Sequential(_conv(c96, c96, 3, 1, 1, wn), act),
        nn.Sequential(_conv(c96, c96, 3, 2, 1, wn), act),
        nn.Sequential(nn.Dropout(m.dropout), _conv(c96, c192, 3, 1, 1, wn), act),
        nn.Sequential(_conv(c192, c192, 3, 1, 1, wn), act),
        nn.Sequential(_conv(c192, c192, 3, 2, 1, wn), act),
        nn.Sequential(nn.Dropout(m.dropout), _conv(c192, c192, 3, 1, 0, wn), act),
        nn.Sequential(_conv(c192, c192, 1, 1, 0, wn), act),
        nn.Sequential(_conv(c192, c192, 1, 1, 0, wn), act),
        nn.AdaptiveAvgPool2d(1),
    ]
    return generator, Discriminator(blocks, Head(c192, d_outputs, config))
