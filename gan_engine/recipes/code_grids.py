"""Sample grids that vary one code of a ``CodedGenerator``: cGAN's class, InfoGAN's codes.

InfoGAN (Chen et al. 2016, figure 2) shows a learnt code by holding everything else fixed and
sweeping that code along a row; ``write_code_grids`` writes those grids from a checkpoint:
``category.png`` (row k: category k, or class k for cGAN; column j: the same noise in every row)
and ``continuous_<i>.png`` (row: a category, or a noise draw without one; columns: code i from
-2 to 2, beyond the prior's (-1, 1) as the paper does, the other continuous codes at 0).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_engine.models.coded import CodedGenerator
from gan_engine.training.data import to_uint8
from gan_engine.training.grid import grid_latents, save_png


def tile_rows(images: torch.Tensor, columns: int, pad: int = 2) -> torch.Tensor:
    """uint8 (N, C, H, W) -> one uint8 image of N / ``columns`` rows, white gaps."""
    n, c, h, w = images.shape
    rows = -(-n // columns)
    out = torch.full((c, rows * (h + pad) + pad, columns * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, q = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[:, y : y + h, x : x + w] = images[i]
    return out


@torch.no_grad()
def _render(generator: CodedGenerator, z: torch.Tensor, data_range: str) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    try:
        return to_uint8(generator(z.to(next(generator.parameters()).device)).cpu(), data_range)
    finally:
        generator.train(was_training)


def category_grid(generator: CodedGenerator, data_range: str, columns: int = 10, seed: int = 0) -> torch.Tensor:
    k = generator.categories
    z = generator.latents(
        grid_latents(generator.z_dim, columns, seed).repeat(k, 1), category=torch.arange(k).repeat_interleave(columns)
    )
    if generator.continuous:  # the other codes at their prior's centre
        z = generator.latents(z, continuous=torch.zeros(len(z), generator.continuous))
    return tile_rows(_render(generator, z, data_range), columns)


def continuous_grid(
    generator: CodedGenerator, code: int, data_range: str, steps: int = 10, span: float = 2.0, seed: int = 0
) -> torch.Tensor:
    rows = generator.categories or 10
    noise = grid_latents(generator.z_dim, 1 if generator.categories else rows, seed)
    z = noise.repeat_interleave(steps, 0) if not generator.categories else noise.repeat(rows * steps, 1)
    values = torch.zeros(rows * steps, generator.continuous)
    values[:, code] = torch.linspace(-span, span, steps).repeat(rows)
    category = torch.arange(rows).repeat_interleave(steps) if generator.categories else None
    return tile_rows(_render(generator, generator.latents(z, category, values), data_range), steps)


def write_code_grids(checkpoint: str | Path, out_dir: str | Path, seed: int = 0) -> list[Path]:
    from gan_engine.sampling import load_generator

    loaded = load_generator(checkpoint, "cpu")
    g = loaded.generator
    if not isinstance(g, CodedGenerator):
        raise TypeError(f"{checkpoint}: recipe {loaded.config.recipe}'s generator carries no codes")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grids = {}
    if g.categories:
        grids["category.png"] = category_grid(g, loaded.data_range, seed=seed)
    for i in range(g.continuous):
        grids[f"continuous_{i}.png"] = continuous_grid(g, i, loaded.data_range, seed=seed)
    for name, image in grids.items():
        save_png(image, out_dir / name)
    return [out_dir / name for name in grids]
