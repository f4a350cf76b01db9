"""What every architecture provides: a generator that owns its VBN reference batch, and a
discriminator made of blocks (whose outputs feature matching can read) and a head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.nn import GaussianNoise, MinibatchDiscrimination, WNLinear


def scaled(width: int, config: TrainConfig) -> int:
    return max(1, round(width * config.model.width))


def d_scaled(width: int, config: TrainConfig) -> int:
    """A width of D: ``model.d_width`` when set, else ``model.width``."""
    return max(1, round(width * (config.model.d_width or config.model.width)))


class Generator(nn.Module):
    """Maps z ~ U[0, 1)^z_dim (the paper's code draws uniform noise) to images in the model's range.

    With virtual batch norm the generator holds the fixed reference latents ``z_ref`` (a buffer, so
    checkpoints carry it) and runs them ahead of every batch through ``net``."""

    def __init__(self, net: nn.Module, z_dim: int, out_shape: tuple[int, int, int], ref_size: int = 0):
        super().__init__()
        self.net = net
        self.z_dim = z_dim
        self.out_shape = out_shape
        self.ref_size = ref_size
        if ref_size:
            self.register_buffer("z_ref", torch.rand(ref_size, z_dim))

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        if generator is None:
            return torch.rand(n, self.z_dim, device=device)
        return torch.rand(n, self.z_dim, generator=generator).to(device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.ref_size:
            return self.net(torch.cat([self.z_ref, z]))[self.ref_size :]
        return self.net(z)


class Head(nn.Module):
    """D's last stage: optional noise, optional minibatch features, the final linear layer."""

    def __init__(self, in_features: int, outputs: int, config: TrainConfig, *, noise=0.0, std=0.05, init_stdv=0.1):
        super().__init__()
        t, m = config.techniques, config.model
        self.noise = GaussianNoise(noise) if noise and m.gaussian_noise else nn.Identity()
        self.mbd = (
            MinibatchDiscrimination(in_features, t.mbd_kernels, t.mbd_dims) if t.minibatch_discrimination else None
        )
        features = self.mbd.out_features if self.mbd else in_features
        if m.weight_norm:
            self.out = WNLinear(features, outputs, std=std, train_scale=True, init_stdv=init_stdv)
        else:
            self.out = nn.Linear(features, outputs)

    def forward(self, h: torch.Tensor, segments: Sequence[int] | None) -> torch.Tensor:
        h = self.noise(h.flatten(1))
        if self.mbd is not None:
            h = self.mbd(h, segments)
        return self.out(h)


class Discriminator(nn.Module):
    """``blocks`` run in order, then ``head``. ``forward`` returns (logits, features of
    ``feature_layer``) so feature matching costs no second pass.

    ``batch_independent`` is False when a block mixes the examples of a batch (batch norm): then
    callers must not concatenate minibatches into one pass."""

    def __init__(self, blocks: Sequence[nn.Module], head: Head, batch_independent: bool = True):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.batch_independent = batch_independent

    def forward(
        self, x: torch.Tensor, segments: Sequence[int] | None = None, feature_layer: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        wanted = None if feature_layer is None else feature_layer % len(self.blocks)
        features = None
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == wanted:
                features = h.flatten(1)
        return self.head(h, segments), features
