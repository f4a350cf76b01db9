"""The paper's permutation-invariant MNIST pair (openai/improved-gan,
mnist_svhn_cifar10/train_mnist_feature_matching.py).

G: z ~ U[0,1)^100 -> dense 500, batch norm (no gain), softplus -> dense 500, BN, softplus
   -> dense 784 with weight norm (trainable scale, no data-dependent init), sigmoid.
D: Gaussian noise 0.3 -> weight-normed dense 1000, 500, 250, 250, 250 (ReLU), each followed by
   Gaussian noise 0.5 -> weight-normed dense K (trainable scale). Weights N(0, 0.1); hidden scales
   fixed after data-dependent init, as the public code's ``DenseLayer(train_scale=False)``.
Feature matching reads the last 250-unit layer (before its noise), the code's ``layers[-3]``.
"""

from __future__ import annotations

import math

from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import Discriminator, Generator, Head, d_scaled, scaled
from gan_engine.nn import GaussianNoise, WNLinear, make_generator_norm

D_WIDTHS = (1000, 500, 250, 250, 250)
G_WIDTHS = (500, 500)


def _dense(n_in: int, n_out: int, weight_norm: bool) -> nn.Module:
    return WNLinear(n_in, n_out, std=0.1) if weight_norm else nn.Linear(n_in, n_out)


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[Generator, Discriminator]:
    m, t = config.model, config.techniques
    pixels = math.prod(shape)
    ref_size = config.optim.batch_size if t.virtual_batch_norm else 0

    g_layers: list[nn.Module] = []
    n_in = m.z_dim
    for width in G_WIDTHS:
        width = scaled(width, config)
        linear = nn.Linear(n_in, width, bias=False)  # the norm's bias replaces it
        nn.init.xavier_uniform_(linear.weight)  # Lasagne's default, which the paper's code uses
        g_layers += [linear, make_generator_norm(width, t.virtual_batch_norm, ref_size), nn.Softplus()]
        n_in = width
    if m.weight_norm:
        out = WNLinear(n_in, pixels, std=0.05, train_scale=True, init_stdv=None)
        if m.g_output_init == "glorot_uniform":  # Lasagne's DenseLayer default under l2normalize
            nn.init.xavier_uniform_(out.v)
        g_layers.append(out)
    else:
        g_layers.append(nn.Linear(n_in, pixels))
    g_layers += [nn.Sigmoid(), nn.Unflatten(1, shape)]
    generator = Generator(nn.Sequential(*g_layers), m.z_dim, shape, ref_size)

    blocks: list[nn.Module] = []
    n_in = pixels
    for i, width in enumerate(D_WIDTHS):
        width = d_scaled(width, config)
        noise = m.input_noise if i == 0 else m.hidden_noise
        layers: list[nn.Module] = [nn.Flatten()] if i == 0 else []
        if m.gaussian_noise and noise:
            layers.append(GaussianNoise(noise))
        layers += [_dense(n_in, width, m.weight_norm), nn.ReLU()]
        blocks.append(nn.Sequential(*layers))
        n_in = width
    head = Head(n_in, d_outputs, config, noise=m.hidden_noise, std=0.1, init_stdv=1.0)
    return generator, Discriminator(blocks, head)
