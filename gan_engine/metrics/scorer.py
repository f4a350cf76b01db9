"""What every scoring network offers: uint8 images in, (logits, features) out, batched, with its identity.

The identity (name and weights SHA-256) travels with every number a scorer produces, so that scores from
two networks, or from two versions of one, are never put side by side.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from gan_engine.errors import ScorerError


@dataclass(frozen=True)
class Extracted:
    logits: np.ndarray  # float32 (N, K); IS takes their softmax
    features: np.ndarray  # float32 (N, D); FID and KID take these


class Scorer(ABC):
    name: str
    weights_sha256: str
    num_classes: int
    feature_dim: int
    channels: tuple[int, ...]  # image channel counts accepted
    device: torch.device

    @abstractmethod
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, C, H, W) on ``self.device`` → float (logits (B, K), features (B, D))."""

    @property
    def identity(self) -> dict[str, str]:
        return {"scorer": self.name, "weights_sha256": self.weights_sha256}

    def check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
            raise ScorerError(f"images: expected a uint8 (N, C, H, W) tensor, got {got}")
        if images.shape[1] not in self.channels:
            raise ScorerError(
                f"images: scorer {self.name} takes {' or '.join(map(str, self.channels))}-channel images, "
                f"got {images.shape[1]}"
            )

    def extract(
        self,
        images: torch.Tensor,
        batch_size: int = 32,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> Extracted:
        """Logits and features of all ``images`` (uint8 (N, C, H, W), any device), in order.

        On a multi-core CPU each batch is cut into one slice per core, run single-threaded side by side:
        a convolution's own threads stall on the small late layers, whole images do not.
        """
        self.check_images(images)
        if batch_size < 1:
            raise ScorerError(f"batch_size: must be at least 1, got {batch_size}")
        n = images.shape[0]
        logits = np.empty((n, self.num_classes), np.float32)
        features = np.empty((n, self.feature_dim), np.float32)
        workers = torch.get_num_threads() if self.device.type == "cpu" else 1
        if workers > 1:
            pool = ThreadPoolExecutor(workers)
            torch.set_num_threads(1)
        try:
            for start in range(0, n, batch_size):
                batch = images[start : start + batch_size]
                if workers > 1 and len(batch) > 1:
                    parts = list(pool.map(self._forward_numpy, torch.tensor_split(batch, min(workers, len(batch)))))
                    out_l, out_f = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
                else:
                    out_l, out_f = self._forward_numpy(batch)
                logits[start : start + len(batch)] = out_l
                features[start : start + len(batch)] = out_f
                if on_batch is not None:
                    on_batch(start + len(batch), n)
        finally:
            if workers > 1:
                torch.set_num_threads(workers)
                pool.shutdown()
        return Extracted(logits, features)

    def _forward_numpy(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        # inference_mode is per thread, so each worker enters it itself.
        with torch.inference_mode():
            out_l, out_f = self.forward(batch.to(self.device, non_blocking=True))
        return out_l.float().cpu().numpy(), out_f.float().cpu().numpy()
