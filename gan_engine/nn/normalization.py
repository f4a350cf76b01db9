"""The generator's normalisation: batch norm as the paper's code uses it, or virtual batch norm.

Batch norm here always normalises with the statistics of the batch at hand (the paper's generator
never runs on stored averages), so there are no running statistics to drift or to checkpoint.

Virtual batch norm (the paper's section 3.4; ``VBN`` in its imagenet/model.py): a reference batch,
fixed at the start, travels through the generator with every batch and is normalised with its own
statistics. Every other example x is normalised with
    mean = stat(x) / (N + 1) + stat(ref) * N / (N + 1)      (and the same for the mean of squares),
so its output depends on itself and the reference batch, never on its batch-mates. The generator
puts the reference rows first; ``ref_size`` says how many.
"""

from __future__ import annotations

import torch
from torch import nn


def _stat_dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


class BatchNorm(nn.Module):
    """Batch statistics and a learnt bias; a learnt gain only when ``gain`` (the paper's generators
    use ``batch_norm(..., g=None)``: no gain; DCGAN's has one)."""

    def __init__(self, features: int, gain: bool = False, eps: float = 1e-5):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(features))
        self.gain = nn.Parameter(torch.ones(features)) if gain else None
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = (0, *_stat_dims(x))
        mean = x.mean(dim=dims, keepdim=True)
        var = (x - mean).pow(2).mean(dim=dims, keepdim=True)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        out = (x - mean) / (var + self.eps).sqrt()
        if self.gain is not None:
            out = out * self.gain.view(shape)
        return out + self.bias.view(shape)


class VirtualBatchNorm(nn.Module):
    def __init__(self, features: int, ref_size: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(1.0 + 0.02 * torch.randn(features))
        self.beta = nn.Parameter(torch.zeros(features))
        self.ref_size = ref_size
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.ref_size
        if x.shape[0] < n:
            raise ValueError(f"virtual batch norm expects the {n} reference rows first, got {x.shape[0]} rows")
        spatial = _stat_dims(x)
        ref = x[:n]
        ref_mean = ref.mean(dim=(0, *spatial), keepdim=True)
        ref_sq = ref.pow(2).mean(dim=(0, *spatial), keepdim=True)
        mean, sq = ref_mean.expand(n, *ref_mean.shape[1:]), ref_sq.expand(n, *ref_sq.shape[1:])
        if x.shape[0] > n:
            rest = x[n:]
            own_mean = rest.mean(dim=spatial, keepdim=True) if spatial else rest
            own_sq = rest.pow(2).mean(dim=spatial, keepdim=True) if spatial else rest.pow(2)
            w = 1.0 / (n + 1)
            mean = torch.cat([mean, w * own_mean + (1 - w) * ref_mean])
            sq = torch.cat([sq, w * own_sq + (1 - w) * ref_sq])
        std = (sq - mean.pow(2) + self.eps).sqrt()
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - mean) / std * self.gamma.view(shape) + self.beta.view(shape)


def make_generator_norm(features: int, virtual: bool, ref_size: int, gain: bool = False) -> nn.Module:
    return VirtualBatchNorm(features, ref_size) if virtual else BatchNorm(features, gain)
