"""Fixtures of the metrics tests: an isolated cache, no network, a random-weight Inception file, a tiny
trained domain scorer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from gan_engine.metrics.inception_net import state_dict_layout
from gan_engine.metrics.weights import sha256_file


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache and never reaches the user's weights or statistics."""
    for var in ("GAN_INCEPTION_WEIGHTS", "GAN_SCORER_DIR", "GAN_STATS_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """A test that tries to connect anywhere fails loudly instead of downloading."""

    def refuse(*args, **kwargs):
        raise AssertionError("a metrics test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def random_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """The weights file's layout filled with seeded values scaled so that activations stay O(1) through
    all 94 layers (He-scaled convolutions, batch-norm statistics near the identity)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in state_dict_layout().items():
        if key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            value = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif key.endswith(("bn.weight", "running_var")):
            value = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith("num_batches_tracked"):
            value = torch.tensor(0)
        elif key == "fc.weight":
            value = torch.randn(shape, generator=g) / shape[1] ** 0.5
        else:  # bn.bias, running_mean, fc.bias
            value = 0.1 * torch.randn(shape, generator=g)
        state[key] = value
    return state


@pytest.fixture(scope="session")
def random_inception_file(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(random_inception_state(), path)
    return path, sha256_file(path)


@pytest.fixture(scope="session")
def tf_extractor(random_inception_file):
    """torch-fidelity's own extractor, loading the same random file (its strict load proves the layout)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path, _ = random_inception_file
    return FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    )


@pytest.fixture(scope="session")
def random_inception(random_inception_file):
    from gan_engine.metrics.canonical import InceptionScorer

    path, sha = random_inception_file
    return InceptionScorer.from_file(path, sha256=sha)


@pytest.fixture(scope="session")
def digits_scorer_dir(tmp_path_factory) -> Path:
    """digits_cnn trained for two epochs (a few seconds): a real domain scorer, tiny."""
    from gan_engine.metrics.domain_scorer import train

    folder = tmp_path_factory.mktemp("scorers")
    threads = torch.get_num_threads()
    # One thread: for a net this small, thread barriers cost more than they save (5x on a busy 2-core box).
    torch.set_num_threads(1)
    try:
        train("digits", folder, epochs=2, batch_size=64, seed=0)
    finally:
        torch.set_num_threads(threads)
    return folder
