"""The in-memory dataset every loader returns: whole splits as uint8 tensors.

The datasets this engine trains on fit in memory (Fashion-MNIST's training split is 47 MB), so a loader
decodes a split once and training indexes the tensors directly, with no DataLoader workers to start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageDataset:
    images: torch.Tensor  # uint8, (N, C, H, W), contiguous
    labels: torch.Tensor  # int64, (N,); -1 where the dataset has no labels
    classes: tuple[str, ...]  # class names, index = label
    name: str

    def __post_init__(self) -> None:
        # A loader bug caught here names the dataset; caught later, it is a shape error deep in a model.
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"{self.name}: images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"{self.name}: labels must be int64 of shape ({len(self.images)},), "
                f"got {self.labels.dtype} {tuple(self.labels.shape)}"
            )
        if not self.images.is_contiguous():
            raise ValueError(f"{self.name}: images must be contiguous")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], name: str) -> ImageDataset:
        """Build from NCHW uint8 and integer label arrays, always copying: loaders hand out arrays from a
        per-process cache, which a caller editing its tensors in place must not change."""
        return cls(
            torch.tensor(np.ascontiguousarray(images), dtype=torch.uint8),
            torch.tensor(labels, dtype=torch.int64),
            tuple(classes),
            name,
        )


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
