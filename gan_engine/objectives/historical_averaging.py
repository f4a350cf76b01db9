"""Historical averaging (section 3.3): each player's cost gains ||theta - (1/t) sum_i theta[i]||^2.

The running mean starts at the initial parameters and is updated after every optimiser step; the
public code does not include it, so this follows the paper's text. The averages are tensors in the
state dict, so checkpoints resume them exactly."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class HistoricalAverage(nn.Module):
    def __init__(self, params: Iterable[nn.Parameter]):
        super().__init__()
        self._params = [p for p in params if p.requires_grad]
        for i, p in enumerate(self._params):
            self.register_buffer(f"avg_{i}", p.detach().clone())
        self.register_buffer("count", torch.ones((), dtype=torch.long))

    def _averages(self) -> list[torch.Tensor]:
        return [getattr(self, f"avg_{i}") for i in range(len(self._params))]

    def penalty(self) -> torch.Tensor:
        return sum((p - a).pow(2).sum() for p, a in zip(self._params, self._averages()))

    @torch.no_grad()
    def reset(self) -> None:
        """Restart the mean at the current parameters (after data-dependent initialisation)."""
        self.count.fill_(1)
        for p, a in zip(self._params, self._averages()):
            a.copy_(p)

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        for p, a in zip(self._params, self._averages()):
            a.add_((p - a) / self.count)
