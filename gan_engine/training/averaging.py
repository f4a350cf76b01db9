"""The running average of D's parameters that the paper's code evaluates test error with:
a <- a + rate * (p - a), started at 0.

Mode ``paper`` reads it as the code does (train_mnist_feature_matching.py, lines 86-88 and 94): the
trainable parameters' averages, uncorrected (the caller updates it before D's step, as the code's
single Theano update does). Parameters that never train (weight norm's fixed hidden scales) keep their
own values there, as the code's ``givens`` replace only the trainable ones.

Started at 0 it is not scale-consistent for thousands of steps (at rate 1e-4 it holds 10% of the
parameters' weight after 1,000 steps, and the biases then outweigh the shrunken gains), so the
average is read with the bias correction 1 / (1 - (1 - rate)^t), as Adam corrects its moments. Late
in training the correction tends to 1 and the two agree."""

from __future__ import annotations

import torch
from torch import nn


class ParameterAverage(nn.Module):
    def __init__(self, model: nn.Module, rate: float, mode: str = "bias_corrected"):
        super().__init__()
        self.rate = rate
        self.mode = mode
        self._trainable = [name for name, p in model.named_parameters() if p.requires_grad]
        self._names = [name for name, _ in model.named_parameters()]
        for i, (_, p) in enumerate(model.named_parameters()):
            self.register_buffer(f"avg_{i}", torch.zeros_like(p))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.count += 1
        averages = [getattr(self, f"avg_{i}") for i in range(len(self._names))]
        torch._foreach_lerp_(averages, [p.detach() for p in model.parameters()], self.rate)

    @torch.no_grad()
    def averaged(self) -> dict[str, torch.Tensor]:
        """Parameter name -> bias-corrected average (mode ``paper``: the trainable ones, uncorrected)."""
        if self.mode == "paper":
            wanted = set(self._trainable)
            return {name: getattr(self, f"avg_{i}") for i, name in enumerate(self._names) if name in wanted}
        correction = 1.0 - (1.0 - self.rate) ** int(self.count)
        if correction == 0:
            raise RuntimeError("no update has been averaged yet")
        return {name: getattr(self, f"avg_{i}") / correction for i, name in enumerate(self._names)}
