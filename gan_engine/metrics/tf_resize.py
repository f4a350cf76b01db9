"""TensorFlow 1.x bilinear resize (``align_corners=False``), the resize inside the 2015 Inception graph.

TF1 maps output pixel ``o`` to source ``o * in / out`` (no half-pixel shift), unlike PyTorch's
``interpolate``; the difference moves the Inception Score by more than the 1e-3 we promise. The
arithmetic below is torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x`` (method "slow",
bit-exact with TensorFlow on CPU) done separably: interpolate along x at the source rows, then along
y. Each output element goes through the same float operations in the same order, so the result is
bit-identical to torch-fidelity's while gathering a (H, out) strip instead of four (out, out) planes.
"""

from __future__ import annotations

import torch


def _axis(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # float32 positions, exactly as torch-fidelity builds them (a float32 scale, not a float64 one).
    pos = torch.arange(0, out_size, 1, dtype=torch.float32, device=device) * torch.tensor(
        in_size / out_size, dtype=torch.float32
    )
    lo = pos.long()
    hi = (lo + 1).clamp_max(in_size - 1)
    return lo, hi, pos - lo.float()


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float32 (N, C, H, W) to ``size`` = (out_h, out_w) as TensorFlow 1.x does."""
    if x.dim() != 4 or x.dtype != torch.float32:
        raise ValueError(f"expected float32 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    out_h, out_w = size
    xlo, xhi, dx = _axis(x.shape[3], out_w, x.device)
    ylo, yhi, dy = _axis(x.shape[2], out_h, x.device)
    left = x.index_select(3, xlo)
    rows = left + (x.index_select(3, xhi) - left) * dx
    top = rows.index_select(2, ylo)
    return top + (rows.index_select(2, yhi) - top) * dy.view(out_h, 1)
