"""The class-conditional pair of cGAN (Mirza & Osindero 2014), on DCGAN's convolutional networks
(the paper's MNIST nets are MLPs; the conditioning is the same).

G: [noise, one-hot class] -> DCGAN's generator (``critic_dcgan.generator_net``), tanh. The class is
   read from z's first slot (``coded.CodedGenerator``), so G samples from z alone.
D: the image with the one-hot class appended as K constant planes -> two stride-2 4x4 convs with
   LeakyReLU 0.2 -> dense to one logit. K: ``gans.cgan_classes``, or the dataset's class count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.models.coded import CodedGenerator
from gan_engine.models.critic_dcgan import critic_blocks, generator_net
from gan_engine.registry import DATASETS


def class_count(config: TrainConfig) -> int:
    return config.gans.cgan_classes or DATASETS.get(config.data.dataset).num_classes or 0


class ConditionalDiscriminator(nn.Module):
    def __init__(self, shape: tuple[int, int, int], classes: int, config: TrainConfig):
        super().__init__()
        self.classes = classes
        blocks, channels = critic_blocks(shape[0] + classes, config)
        s = shape[1] // 4
        self.net = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(channels * s * s, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        planes = F.one_hot(labels, self.classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.net(torch.cat([x, planes], dim=1))[:, 0]


def build(
    config: TrainConfig, shape: tuple[int, int, int], d_outputs: int
) -> tuple[CodedGenerator, ConditionalDiscriminator]:
    classes = class_count(config)
    z_dim = config.model.z_dim
    net = generator_net(z_dim - 1 + classes, shape, config, nn.Tanh())
    generator = CodedGenerator(net, z_dim, shape, classes, 0)
    return generator, ConditionalDiscriminator(shape, classes, config)
