"""Sample grids: a fixed set of latents, so successive grids show the same samples improving."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from gan_engine.training.data import to_uint8


def grid_latents(z_dim: int, n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, z_dim, generator=torch.Generator().manual_seed(seed + 7_000_003))


def tile(images: torch.Tensor, pad: int = 2) -> torch.Tensor:
    """uint8 (N, C, H, W) -> one uint8 (C, rows*(H+pad)+pad, cols*(W+pad)+pad) image, white gaps."""
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = torch.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[:, y : y + h, x : x + w] = images[i]
    return out


def save_png(image: torch.Tensor, path: Path) -> None:
    """uint8 (C, H, W) -> PNG."""
    array = image.permute(1, 2, 0).numpy()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)


@torch.no_grad()
def write_grid(generator: torch.nn.Module, z: torch.Tensor, data_range: str, path: Path) -> Path:
    was_training = generator.training
    generator.eval()
    try:
        images = to_uint8(generator(z.to(next(generator.parameters()).device)).cpu(), data_range)
    finally:
        generator.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(tile(images), path)
    return path
