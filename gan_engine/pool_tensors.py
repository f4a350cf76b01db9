"""Pools as tensors: the engine's uint8 (N, C, H, W) images written to and read from a pool folder, whose
format ``gan_engine.pools`` owns (torch-free, for the web process)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gan_engine.errors import PoolError
from gan_engine.pools import MODES, read_pool_pixels, write_pool_pixels


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise PoolError(f"images: expected a uint8 (N, C, H, W) tensor, got {got}")
    if images.shape[1] not in MODES:
        raise PoolError(f"images: expected 1 (grey) or 3 (RGB) channels, got {images.shape[1]}")
    if images.shape[0] == 0:
        raise PoolError("images: the pool would be empty")


def write_pool(
    images: torch.Tensor,
    out_dir: str | os.PathLike[str],
    source: dict[str, Any],
    seeds: Sequence[int] | None = None,
    *,
    kind: str = "generated",
    indices: Sequence[int] | None = None,
) -> Path:
    """Write ``images`` (uint8 (N, C, H, W)) as a new pool in ``out_dir`` (see ``pools.write_pool_pixels``)."""
    _check_images(images)
    pixels = images.permute(0, 2, 3, 1).cpu().numpy()
    return write_pool_pixels(pixels, out_dir, source, seeds, kind=kind, indices=indices)


def read_pool(folder: str | os.PathLike[str]) -> tuple[torch.Tensor, dict[str, Any]]:
    """The pool's images as uint8 (N, C, H, W) in manifest order, and its manifest."""
    pixels, manifest = read_pool_pixels(folder)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), manifest
