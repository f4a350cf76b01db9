"""InfoGAN's pair (Chen et al. 2016, appendix C.1, the MNIST nets), on DCGAN-style convolutions.

G: [noise, one-hot categorical code, continuous codes] -> DCGAN's generator, tanh; the codes come
   from z's first slots (``coded.CodedGenerator``), so G samples from z alone (62 noise dims, one
   10-way categorical code and 2 continuous codes by default, as the paper's MNIST run).
D: two stride-2 4x4 convs (c, 2c), LeakyReLU 0.2 -> dense 16c, LeakyReLU -> dense to one logit.
Q shares D's trunk: dense 2c, LeakyReLU -> K category logits and the means of the continuous codes.
D has no batch norm (the paper's has), so real and generated batches may share a pass.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.base import scaled
from gan_engine.models.coded import CodedGenerator
from gan_engine.models.critic_dcgan import critic_blocks, generator_net


class InfoDiscriminator(nn.Module):
    def __init__(self, shape: tuple[int, int, int], categories: int, continuous: int, config: TrainConfig):
        super().__init__()
        blocks, channels = critic_blocks(shape[0], config)
        s, hidden = shape[1] // 4, scaled(1024, config)
        self.categories = categories
        self.trunk = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(channels * s * s, hidden), nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden, 1)
        q_hidden = scaled(128, config)
        self.q = nn.Sequential(
            nn.Linear(hidden, q_hidden), nn.LeakyReLU(0.2), nn.Linear(q_hidden, categories + continuous)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logit (N,), category logits (N, K), continuous means (N, n))."""
        h = self.trunk(x)
        q = self.q(h)
        return self.head(h)[:, 0], q[:, : self.categories], q[:, self.categories :]


def build(config: TrainConfig, shape: tuple[int, int, int], d_outputs: int) -> tuple[CodedGenerator, InfoDiscriminator]:
    g = config.gans
    z_dim = config.model.z_dim
    slots = (1 if g.info_categories else 0) + g.info_continuous
    net = generator_net(z_dim - slots + g.info_categories + g.info_continuous, shape, config, nn.Tanh())
    generator = CodedGenerator(net, z_dim, shape, g.info_categories, g.info_continuous)
    return generator, InfoDiscriminator(shape, g.info_categories, g.info_continuous, config)
