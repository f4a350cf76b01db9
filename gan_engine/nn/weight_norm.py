"""Weight normalisation (Salimans & Kingma, 2016) with data-dependent initialisation.

W = g * v / ||v|| per output unit, as in the paper's public code (openai/improved-gan,
mnist_svhn_cifar10/nn.py: ``DenseLayer``, ``WeightNormLayer``, ``l2normalize``). The paper's networks
initialise g and b from data: on a first batch each layer's pre-activations are standardised
(mean 0, std ``init_stdv``), so every layer starts well scaled whatever the depth. That step matters
for the semi-supervised results; ``data_dependent_init`` runs it.

``train_scale=False`` keeps g fixed after initialisation, as the paper's hidden layers do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

_EPS = 1e-6


class _WeightNormed(nn.Module):
    # Axes of v that one output unit's norm runs over, and the shape g takes to broadcast over v.
    _norm_dims: tuple[int, ...]
    _out_dim: int
    # Axes of the output that the data-dependent statistics are taken over.
    _stat_dims: tuple[int, ...]

    def _setup(self, v_shape: tuple[int, ...], out_features: int, std: float, train_scale: bool, init_stdv):
        self.v = nn.Parameter(torch.randn(v_shape) * std)
        self.g = nn.Parameter(torch.ones(out_features), requires_grad=train_scale)
        self.b = nn.Parameter(torch.zeros(out_features))
        self.init_stdv = init_stdv
        self._init_pending = False
        # ||v|| + eps by default; the paper's code takes sqrt(eps + sum v^2) (nn.py, lines 77 and 259).
        self.eps, self.eps_inside = _EPS, False

    @property
    def supports_data_init(self) -> bool:
        return self.init_stdv is not None

    def scale(self) -> torch.Tensor:
        """g / ||v|| per output unit."""
        if self.eps_inside:
            return self.g * self.v.pow(2).sum(dim=self._norm_dims).add(self.eps).rsqrt()
        return self.g / torch.linalg.vector_norm(self.v, dim=self._norm_dims).add(self.eps)

    def weight(self) -> torch.Tensor:
        shape = [1] * self.v.dim()
        shape[self._out_dim] = -1
        return self.v * self.scale().view(shape)

    def _apply_op(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._init_pending:
            return self._initialise(x)
        # Scaling the output rather than the weight keeps the per-step work on v to one norm:
        # (x v^T) * s + b equals x (s v)^T + b.
        out = self._apply_op(x, self.v, None)
        return torch.addcmul(_bcast(self.b, out), out, _bcast(self.scale(), out))

    @torch.no_grad()
    def _initialise(self, x: torch.Tensor) -> torch.Tensor:
        self._init_pending = False
        t = self._apply_op(x, self.weight(), None)
        mean = t.mean(dim=self._stat_dims)
        std = (t - _bcast(mean, t)).pow(2).mean(dim=self._stat_dims).sqrt().clamp_min(1e-8)
        scale = self.init_stdv / std
        self.g.mul_(scale)
        self.b.copy_(-mean * scale)
        return (t - _bcast(mean, t)) * _bcast(scale, t)


def _bcast(per_channel: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return per_channel.view(1, -1, *([1] * (like.dim() - 2)))


class WNLinear(_WeightNormed):
    _norm_dims, _out_dim, _stat_dims = (1,), 0, (0,)

    def __init__(self, in_features, out_features, *, std=0.05, train_scale=False, init_stdv: float | None = 1.0):
        super().__init__()
        self._setup((out_features, in_features), out_features, std, train_scale, init_stdv)

    def _apply_op(self, x, weight, bias):
        return F.linear(x, weight, bias)


class WNConv2d(_WeightNormed):
    _norm_dims, _out_dim, _stat_dims = (1, 2, 3), 0, (0, 2, 3)

    def __init__(self, in_ch, out_ch, kernel_size, *, stride=1, padding=0, std=0.05, train_scale=False, init_stdv=1.0):
        super().__init__()
        self._setup((out_ch, in_ch, kernel_size, kernel_size), out_ch, std, train_scale, init_stdv)
        self.stride, self.padding = stride, padding

    def _apply_op(self, x, weight, bias):
        return F.conv2d(x, weight, bias, self.stride, self.padding)


class WNConvTranspose2d(_WeightNormed):
    # A transposed convolution's weight is (in, out, kh, kw): the output unit is axis 1.
    _norm_dims, _out_dim, _stat_dims = (0, 2, 3), 1, (0, 2, 3)

    def __init__(
        self, in_ch, out_ch, kernel_size, *, stride=2, padding=0, output_padding=0, std=0.05,
        train_scale=False, init_stdv=1.0,
    ):  # fmt: skip
        super().__init__()
        self._setup((in_ch, out_ch, kernel_size, kernel_size), out_ch, std, train_scale, init_stdv)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding

    def _apply_op(self, x, weight, bias):
        return F.conv_transpose2d(x, weight, bias, self.stride, self.padding, self.output_padding)


@contextlib.contextmanager
def _pending(modules: list[nn.Module]) -> Iterator[None]:
    for m in modules:
        m._init_pending = True
    try:
        yield
    finally:
        for m in modules:
            m._init_pending = False


def data_dependent_init(model: nn.Module, run_forward: Callable[[], object]) -> int:
    """Initialise every data-dependent layer of ``model`` (weight-normed layers whose
    ``init_stdv`` is set, minibatch discrimination) during one call of ``run_forward``, which must
    push an init batch through the model. Layers initialise in forward order, each on the output of
    the already-initialised layers below it. Returns how many layers were initialised."""
    layers = [m for m in model.modules() if getattr(m, "supports_data_init", False)]
    with torch.no_grad(), _pending(layers):
        run_forward()
    return len(layers)


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """No gradients for ``model``'s parameters inside the block; each keeps its own flag after
    (a weight-normed layer's fixed scale stays fixed)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
