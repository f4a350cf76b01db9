"""Inception-v3 as the TensorFlow graph of 2015-12-05 computes it, rebuilt for fast inference.

It reads the same weights file as torch-fidelity and pytorch-fid (same keys, same shapes) and computes
the same function: the TensorFlow 1.x resize to 299, ``(x - 128) / 128``, the 2015 graph's quirks (average
pools that ignore padding, a max pool in the last block), pool_3 (2048) and the unbiased logits (1008)
that the paper's Inception Score takes its softmax of. ``tests/metrics`` proves the equivalence against
torch-fidelity's extractor on a random-weight file.

What makes it faster than the layer-by-layer original, none of which changes the function beyond float
rounding (~1e-6 relative):
- batch norm is folded into each convolution's weights and bias when the file is loaded;
- the 1x1 convolutions that read the same block input (and feed a ReLU) are one convolution, one larger
  GEMM, whose output is split;
- the 3x3 average pool before the pool branch's 1x1 convolution is moved after it: both are linear and
  the pool ignores padding, so ``pool(conv(x)) == conv(pool(x))``, and the pool then runs on the
  branch's 32-192 channels instead of the block's 192-2048;
- activations stay channels-last, where oneDNN's convolutions and pools are fastest on CPU, and each
  convolution applies its ReLU as a oneDNN post-op.
``bench/inception_throughput.py`` measures the gain.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.metrics.tf_resize import resize_bilinear_tf1

INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIM = 2048
BN_EPS = 0.001  # the TensorFlow graph's

# (name, in, out, kernel, stride, padding) of every conv+BN unit, in the weights file's naming.
ConvSpec = tuple[str, int, int, tuple[int, int], int, tuple[int, int]]


def _c(name: str, cin: int, cout: int, k: int | tuple[int, int], s: int = 1, p: int | tuple[int, int] = 0) -> ConvSpec:
    k2 = (k, k) if isinstance(k, int) else k
    p2 = (p, p) if isinstance(p, int) else p
    return (name, cin, cout, k2, s, p2)


def _block_a(cin: int, pool: int) -> list[ConvSpec]:
    return [
        _c("branch1x1", cin, 64, 1),
        _c("branch5x5_1", cin, 48, 1),
        _c("branch5x5_2", 48, 64, 5, p=2),
        _c("branch3x3dbl_1", cin, 64, 1),
        _c("branch3x3dbl_2", 64, 96, 3, p=1),
        _c("branch3x3dbl_3", 96, 96, 3, p=1),
        _c("branch_pool", cin, pool, 1),
    ]


def _block_b(cin: int) -> list[ConvSpec]:
    return [
        _c("branch3x3", cin, 384, 3, s=2),
        _c("branch3x3dbl_1", cin, 64, 1),
        _c("branch3x3dbl_2", 64, 96, 3, p=1),
        _c("branch3x3dbl_3", 96, 96, 3, s=2),
    ]


def _block_c(cin: int, c7: int) -> list[ConvSpec]:
    return [
        _c("branch1x1", cin, 192, 1),
        _c("branch7x7_1", cin, c7, 1),
        _c("branch7x7_2", c7, c7, (1, 7), p=(0, 3)),
        _c("branch7x7_3", c7, 192, (7, 1), p=(3, 0)),
        _c("branch7x7dbl_1", cin, c7, 1),
        _c("branch7x7dbl_2", c7, c7, (7, 1), p=(3, 0)),
        _c("branch7x7dbl_3", c7, c7, (1, 7), p=(0, 3)),
        _c("branch7x7dbl_4", c7, c7, (7, 1), p=(3, 0)),
        _c("branch7x7dbl_5", c7, 192, (1, 7), p=(0, 3)),
        _c("branch_pool", cin, 192, 1),
    ]


def _block_d(cin: int) -> list[ConvSpec]:
    return [
        _c("branch3x3_1", cin, 192, 1),
        _c("branch3x3_2", 192, 320, 3, s=2),
        _c("branch7x7x3_1", cin, 192, 1),
        _c("branch7x7x3_2", 192, 192, (1, 7), p=(0, 3)),
        _c("branch7x7x3_3", 192, 192, (7, 1), p=(3, 0)),
        _c("branch7x7x3_4", 192, 192, 3, s=2),
    ]


def _block_e(cin: int) -> list[ConvSpec]:
    return [
        _c("branch1x1", cin, 320, 1),
        _c("branch3x3_1", cin, 384, 1),
        _c("branch3x3_2a", 384, 384, (1, 3), p=(0, 1)),
        _c("branch3x3_2b", 384, 384, (3, 1), p=(1, 0)),
        _c("branch3x3dbl_1", cin, 448, 1),
        _c("branch3x3dbl_2", 448, 384, 3, p=1),
        _c("branch3x3dbl_3a", 384, 384, (1, 3), p=(0, 1)),
        _c("branch3x3dbl_3b", 384, 384, (3, 1), p=(1, 0)),
        _c("branch_pool", cin, 192, 1),
    ]


STEM: list[ConvSpec] = [
    _c("Conv2d_1a_3x3", 3, 32, 3, s=2),
    _c("Conv2d_2a_3x3", 32, 32, 3),
    _c("Conv2d_2b_3x3", 32, 64, 3, p=1),
    _c("Conv2d_3b_1x1", 64, 80, 1),
    _c("Conv2d_4a_3x3", 80, 192, 3),
]

# (block name, kind, its convs); kind "E_avg"/"E_max" is the pool of the branch_pool path.
BLOCKS: list[tuple[str, str, list[ConvSpec]]] = [
    ("Mixed_5b", "A", _block_a(192, 32)),
    ("Mixed_5c", "A", _block_a(256, 64)),
    ("Mixed_5d", "A", _block_a(288, 64)),
    ("Mixed_6a", "B", _block_b(288)),
    ("Mixed_6b", "C", _block_c(768, 128)),
    ("Mixed_6c", "C", _block_c(768, 160)),
    ("Mixed_6d", "C", _block_c(768, 160)),
    ("Mixed_6e", "C", _block_c(768, 192)),
    ("Mixed_7a", "D", _block_d(768)),
    ("Mixed_7b", "E_avg", _block_e(1280)),
    ("Mixed_7c", "E_max", _block_e(2048)),
]


def state_dict_layout() -> dict[str, tuple[int, ...]]:
    """Every key of the weights file and its shape (torch-fidelity's and pytorch-fid's layout)."""
    layout: dict[str, tuple[int, ...]] = {}
    units = [(name, spec) for name, *spec in STEM]
    units += [(f"{block}.{name}", spec) for block, _, convs in BLOCKS for name, *spec in convs]
    for prefix, (cin, cout, (kh, kw), _, _) in units:
        layout[f"{prefix}.conv.weight"] = (cout, cin, kh, kw)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            layout[f"{prefix}.bn.{stat}"] = (cout,)
        layout[f"{prefix}.bn.num_batches_tracked"] = ()
    layout["fc.weight"] = (NUM_CLASSES, FEATURE_DIM)
    layout["fc.bias"] = (NUM_CLASSES,)
    return layout


def check_layout(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Problems that make ``state`` not an Inception weights file; empty when it is one."""
    layout = state_dict_layout()
    problems = [f"missing {k}" for k in layout if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in layout]
    problems += [
        f"{k} has shape {tuple(state[k].shape)}, expected {shape}"
        for k, shape in layout.items()
        if k in state and tuple(state[k].shape) != shape
    ]
    return problems


def _fold(state: Mapping[str, torch.Tensor], prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    # In float64 so that folding adds no rounding of its own beyond the final cast.
    w = state[f"{prefix}.conv.weight"].double()
    gamma, beta = state[f"{prefix}.bn.weight"].double(), state[f"{prefix}.bn.bias"].double()
    mean, var = state[f"{prefix}.bn.running_mean"].double(), state[f"{prefix}.bn.running_var"].double()
    scale = gamma / torch.sqrt(var + BN_EPS)
    return (w * scale.view(-1, 1, 1, 1)).float(), (beta - mean * scale).float()


def _conv(state: Mapping[str, torch.Tensor], prefix: str, spec: ConvSpec, merged: list[str] | None = None) -> nn.Conv2d:
    """A conv with its BN folded in; ``merged`` names sibling 1x1 units stacked along the output channels."""
    names = merged or [prefix]
    folded = [_fold(state, n) for n in names]
    _, cin, _, k, s, p = spec
    weight = torch.cat([w for w, _ in folded])
    conv = nn.Conv2d(cin, weight.shape[0], k, s, p, bias=True)
    conv.weight.data.copy_(weight)
    conv.bias.data.copy_(torch.cat([b for _, b in folded]))
    return conv


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


# oneDNN's convolution with the ReLU as a post-op: one pass over each output instead of two. It is
# what torch.compile emits on CPU; calling it in eager mode gets the gain without a 45 s compile.
_FUSED_CONV = (
    getattr(torch.ops.mkldnn, "_convolution_pointwise", None) if torch.backends.mkldnn.is_available() else None
)


def _run(conv: nn.Conv2d, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
    if _FUSED_CONV is not None and x.device.type == "cpu":
        attr = "relu" if relu else "none"
        return _FUSED_CONV(
            x, conv.weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups, attr, [], ""
        )
    y = conv(x)
    return F.relu(y, inplace=True) if relu else y


class _Block(nn.Module):
    """One Mixed block: ``head`` is the merged 1x1 convolution over the block input, ``split`` its widths."""

    def __init__(self, state: Mapping[str, torch.Tensor], block: str, kind: str, convs: list[ConvSpec]):
        super().__init__()
        self.kind = kind
        specs = {spec[0]: spec for spec in convs}
        heads = {
            "A": ["branch1x1", "branch5x5_1", "branch3x3dbl_1"],
            "B": ["branch3x3dbl_1"],
            "C": ["branch1x1", "branch7x7_1", "branch7x7dbl_1"],
            "D": ["branch3x3_1", "branch7x7x3_1"],
            "E_avg": ["branch1x1", "branch3x3_1", "branch3x3dbl_1"],
            "E_max": ["branch1x1", "branch3x3_1", "branch3x3dbl_1"],
        }[kind]
        self.pooled = kind in ("A", "C", "E_avg")
        self.split = [specs[n][2] for n in heads]
        self.head = _conv(state, f"{block}.{heads[0]}", specs[heads[0]], [f"{block}.{n}" for n in heads])
        self.convs = nn.ModuleDict({n: _conv(state, f"{block}.{n}", s) for n, s in specs.items() if n not in heads})

    def _chain(self, x: torch.Tensor, *names: str) -> torch.Tensor:
        for name in names:
            x = _run(self.convs[name], x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(_run(self.head, x), self.split, dim=1)
        if self.pooled:
            # Pool after the 1x1 convolution (see the module docstring), then the branch's ReLU.
            pooled = F.relu(_avg3(_run(self.convs["branch_pool"], x, relu=False)), inplace=True)
        if self.kind == "A":
            b1, b5, b3 = parts
            b5 = self._chain(b5, "branch5x5_2")
            b3 = self._chain(b3, "branch3x3dbl_2", "branch3x3dbl_3")
            return torch.cat([b1, b5, b3, pooled], 1)
        if self.kind == "B":
            (d,) = parts
            b3 = self._chain(x, "branch3x3")
            d = self._chain(d, "branch3x3dbl_2", "branch3x3dbl_3")
            return torch.cat([b3, d, F.max_pool2d(x, kernel_size=3, stride=2)], 1)
        if self.kind == "C":
            b1, b7, d7 = parts
            b7 = self._chain(b7, "branch7x7_2", "branch7x7_3")
            d7 = self._chain(d7, "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5")
            return torch.cat([b1, b7, d7, pooled], 1)
        if self.kind == "D":
            b3, b7 = parts
            b3 = self._chain(b3, "branch3x3_2")
            b7 = self._chain(b7, "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4")
            return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)
        b1, b3, d = parts
        d = self._chain(d, "branch3x3dbl_2")
        out = [
            b1,
            self._chain(b3, "branch3x3_2a"),
            self._chain(b3, "branch3x3_2b"),
            self._chain(d, "branch3x3dbl_3a"),
            self._chain(d, "branch3x3dbl_3b"),
        ]
        if self.kind == "E_avg":
            out.append(pooled)
        else:
            # The 2015 graph's quirk: a max pool here, before the 1x1, so it does not commute.
            out.append(self._chain(F.max_pool2d(x, kernel_size=3, stride=1, padding=1), "branch_pool"))
        return torch.cat(out, 1)


class InceptionV3TF(nn.Module):
    """uint8 images (N, 3, H, W) → (unbiased logits (N, 1008), pool_3 features (N, 2048)), float32."""

    def __init__(self, state: Mapping[str, torch.Tensor]):
        super().__init__()
        problems = check_layout(state)
        if problems:
            raise ValueError("not an Inception-v3 2015-12-05 state dict: " + "; ".join(problems[:5]))
        self.stem = nn.ModuleList([_conv(state, spec[0], spec) for spec in STEM])
        self.blocks = nn.Sequential(*[_Block(state, b, k, convs) for b, k, convs in BLOCKS])
        self.register_buffer("fc_weight_t", state["fc.weight"].float().t().contiguous())
        self.requires_grad_(False)
        self.eval()
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 (N, 3, H, W) images, got {images.dtype} {tuple(images.shape)}")
        x = resize_bilinear_tf1(images.float(), (INPUT_SIZE, INPUT_SIZE))
        x = ((x - 128) / 128).contiguous(memory_format=torch.channels_last)
        s = self.stem
        x = _run(s[1], _run(s[0], x))
        x = F.max_pool2d(_run(s[2], x), kernel_size=3, stride=2)
        x = F.max_pool2d(_run(s[4], _run(s[3], x)), kernel_size=3, stride=2)
        x = self.blocks(x)
        features = x.mean(dim=(2, 3))
        return features @ self.fc_weight_t, features
