"""Minibatch discrimination (Salimans et al. 2016, section 3.2; the public code's ``MinibatchLayer``).

Each example's features f(x_i) (A values) are projected by a learnt tensor T (A x B x C) to B rows of
C values, M_i. For each kernel b, c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_1) and
o(x_i)_b = sum over j != i of c_b(x_i, x_j) + bias_b; the B values o(x_i) are concatenated to f(x_i).
T is weight-normed over A with a learnt log-scale; the bias starts at -1; both are set from data at
initialisation as in the public code (distances scaled so their mean nearest distance is 2, then
o centred).

The sum runs over the example's own minibatch. When one forward pass carries several minibatches
(real and generated concatenated for speed), ``segments`` gives their sizes and examples only see
their own segment, so the result equals separate passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    supports_data_init = True

    def __init__(self, in_features: int, kernels: int = 100, dims: int = 5, std: float = 0.05):
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.theta = nn.Parameter(torch.randn(in_features, kernels, dims) * std)
        self.log_weight_scale = nn.Parameter(torch.zeros(kernels, dims))
        self.bias = nn.Parameter(torch.full((kernels,), -1.0))
        self._init_pending = False

    @property
    def out_features(self) -> int:
        return self.theta.shape[0] + self.kernels

    def _distances(self, x: torch.Tensor) -> torch.Tensor:
        """L1 distances between the rows of one minibatch, per kernel: (B, n, n)."""
        weight = self.theta * (self.log_weight_scale.exp() / self.theta.pow(2).sum(0).sqrt())
        m = (x @ weight.flatten(1)).view(x.shape[0], self.kernels, self.dims)
        m = m.transpose(0, 1).contiguous()  # (B, n, C)
        return torch.cdist(m, m, p=1)

    def forward(self, x: torch.Tensor, segments: Sequence[int] | None = None) -> torch.Tensor:
        x = x.flatten(1)
        parts = x.split(list(segments)) if segments else (x,)
        if self._init_pending:
            self._init_pending = False
            return self._initialise(parts)
        feats = [self._closeness(self._distances(p)) + self.bias for p in parts]
        return torch.cat([x, torch.cat(feats)], dim=1)

    @staticmethod
    def _closeness(dist: torch.Tensor) -> torch.Tensor:
        # exp(-0) = 1 on the diagonal is each example's distance to itself: drop it (sum over j != i).
        return (torch.exp(-dist).sum(dim=2) - 1.0).transpose(0, 1)

    @torch.no_grad()
    def _initialise(self, parts) -> torch.Tensor:
        x = torch.cat(parts)
        dist = self._distances(x)
        n = dist.shape[1]
        off_diag = dist + torch.eye(n, device=x.device) * 1e6
        mean_min = 0.5 * off_diag.min(dim=2).values.mean(dim=1).clamp_min(1e-8)  # (B,)
        self.log_weight_scale.sub_(mean_min.log()[:, None])
        f = self._closeness(dist / mean_min[:, None, None])
        self.bias.copy_(-f.mean(dim=0))
        return torch.cat([x, f - f.mean(dim=0)], dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.theta.shape[0]}, kernels={self.kernels}, dims={self.dims}"
