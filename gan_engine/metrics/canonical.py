"""The canonical scorer: Inception-v3 (2015-12-05) from a local, hash-checked weights file."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from gan_engine.errors import ScorerError
from gan_engine.metrics.inception_net import FEATURE_DIM, NUM_CLASSES, InceptionV3TF, check_layout
from gan_engine.metrics.scorer import Scorer
from gan_engine.metrics.weights import INCEPTION_SHA256, inception_weights_path, verify_file

FETCH_COMMAND = "python -m gan_engine fetch-weights"


class InceptionScorer(Scorer):
    num_classes = NUM_CLASSES
    feature_dim = FEATURE_DIM
    channels = (1, 3)

    def __init__(self, net: InceptionV3TF, name: str, weights_sha256: str, device: torch.device):
        self.net, self.name, self.weights_sha256, self.device = net, name, weights_sha256, device

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[1] == 1:
            # Grey images enter the RGB network as three equal channels, as a viewer shows them.
            images = images.expand(-1, 3, -1, -1)
        return self.net(images)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        sha256: str = INCEPTION_SHA256,
        device: str | torch.device = "cpu",
        name: str = "inception",
    ) -> InceptionScorer:
        """Load the weights at ``path`` after checking that they hash to ``sha256``."""
        path = Path(path)
        actual = verify_file(path, sha256, f"{FETCH_COMMAND} --out {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a pickle error, a zip error: the file is what is wrong
            raise ScorerError(f"weights file {path} cannot be read as a PyTorch state dict: {exc}") from None
        problems = check_layout(state) if isinstance(state, dict) else ["not a state dict"]
        if problems:
            raise ScorerError(f"weights file {path} is not Inception-v3 2015-12-05: {'; '.join(problems[:5])}")
        device = torch.device(device)
        return cls(InceptionV3TF(state).to(device), name, actual, device)


def load(name: str, device: str = "cpu", weights: str | os.PathLike[str] | None = None) -> InceptionScorer:
    """The registry's loader: the canonical file from ``weights``, ``GAN_INCEPTION_WEIGHTS`` or the cache."""
    return InceptionScorer.from_file(weights or inception_weights_path(), INCEPTION_SHA256, device, name)
