"""scikit-learn's 8x8 handwritten digits, upscaled to MNIST's 28x28: a tiny real dataset for tests and demos.

It ships inside scikit-learn, so it needs neither network nor files, and 1,797 images load in milliseconds.
It has no split of its own; a fixed permutation gives a train/test split that never changes.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import torch

from gan_engine.data.base import ImageDataset, check_split

SIZE = 28
NUM_TRAIN = 1437  # 80% of 1,797
_SPLIT_SEED = 0
_MAX_VALUE = 16  # each pixel counts the set bits of a 4x4 block of the original 32x32 bitmap


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    scaled = torch.from_numpy(digits.images * (255.0 / _MAX_VALUE)).float()[:, None]
    # Quantised once, after upscaling, so that interpolation works on the exact grey levels.
    images = _upscale(scaled)
    order = np.random.RandomState(_SPLIT_SEED).permutation(len(images))
    return images, torch.from_numpy(digits.target.astype(np.int64)), order


def _upscale(images: torch.Tensor) -> torch.Tensor:
    up = torch.nn.functional.interpolate(
        images, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False
    )
    return up.round_().clamp_(0, 255).to(torch.uint8).contiguous()


def load(split: str, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None) -> ImageDataset:
    """1,437 training or 360 test digits as (N, 1, 28, 28) uint8. ``data_dir`` is unused: the data ships with
    scikit-learn; ``image_size`` is for ``load_dataset`` to apply."""
    check_split(split)
    images, labels, order = _arrays()
    chosen = torch.from_numpy(order[:NUM_TRAIN] if split == "train" else order[NUM_TRAIN:])
    return ImageDataset(images[chosen].contiguous(), labels[chosen], tuple(str(i) for i in range(10)), "digits")
