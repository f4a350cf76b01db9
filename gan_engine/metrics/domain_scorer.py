"""The per-domain scorer: a small CNN trained on a dataset's own labels, the offline network behind IS and FID.

Inception's 1008 ImageNet classes say little about 28x28 clothing, and its weights may not be on the
machine; a classifier of the dataset's own classes is the network the Inception Score's argument actually
needs (confident per image, varied over the pool). Each trained scorer is two files in the scorer folder:
``<name>.pt`` (state dict) and ``<name>.json`` (dataset, test accuracy, SHA-256 of the .pt, training
settings). Loading checks the hash, and the hash goes into every score the scorer produces.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_engine.errors import ScorerError
from gan_engine.metrics.scorer import Scorer
from gan_engine.metrics.scorers import DOMAIN_FEATURES, SCORERS, domain_scorer_name
from gan_engine.metrics.weights import scorer_dir, sha256_file, verify_file

ARCHITECTURE = "cnn2-v1"


class DomainCNN(nn.Module):
    """Two conv stages and a 128-unit layer whose activations are the FID features."""

    def __init__(self, channels: int, num_classes: int, features: int = DOMAIN_FEATURES):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            # 28 → 7 already; other sizes (32 → 8) meet the same 7x7 grid.
            nn.AdaptiveAvgPool2d(7),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, features),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(features, num_classes)
        # Set after training so that training-set features have unit RMS: KID's kernel (x.y/d + 1)^3
        # assumes O(1) features (raw ones here reach RMS ~3 and make KID pure noise). Saved with the weights.
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Channels-last: oneDNN's small convolutions train faster in it on CPU.
        x = (images.float() / 127.5 - 1).contiguous(memory_format=torch.channels_last)
        features = self.body(x)
        return self.head(self.dropout(features)), features * self.feature_scale


class DomainScorer(Scorer):
    def __init__(self, net: DomainCNN, name: str, weights_sha256: str, meta: dict[str, Any], device: torch.device):
        self.net, self.name, self.weights_sha256, self.meta, self.device = net, name, weights_sha256, meta, device
        self.num_classes = meta["num_classes"]
        self.feature_dim = meta["feature_dim"]
        self.channels = (meta["channels"],)
        self.image_size = meta["image_size"]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(images)

    def check_images(self, images: torch.Tensor) -> None:
        super().check_images(images)
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            raise ScorerError(
                f"images: scorer {self.name} was trained on {self.image_size}x{self.image_size} images, "
                f"got {images.shape[-2]}x{images.shape[-1]}"
            )


def paths(name: str, folder: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    base = Path(folder) if folder is not None else scorer_dir()
    return base / f"{name}.pt", base / f"{name}.json"


def load(name: str, device: str = "cpu", folder: str | os.PathLike[str] | None = None) -> DomainScorer:
    """The registry's loader: ``<folder>/<name>.pt``, checked against the SHA-256 in its ``.json``."""
    weights, sidecar = paths(name, folder)
    info = SCORERS.get(name)
    train_command = f"python -m gan_engine train-scorer --dataset {info.dataset} --out {weights.parent}"
    if not sidecar.is_file():
        raise ScorerError(f"scorer {name}: {sidecar} not found (its weights are not trained yet); run: {train_command}")
    try:
        meta = json.loads(sidecar.read_text())
        expected = meta["sha256"]
    except (ValueError, KeyError) as exc:
        raise ScorerError(
            f"scorer {name}: {sidecar} is not a scorer description ({exc}); run: {train_command}"
        ) from None
    actual = verify_file(weights, expected, train_command)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net = DomainCNN(meta["channels"], meta["num_classes"], meta["feature_dim"]).to(memory_format=torch.channels_last)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ScorerError(f"scorer {name}: {weights} does not fit the {ARCHITECTURE} network: {exc}") from None
    dev = torch.device(device)
    return DomainScorer(net.to(dev).eval().requires_grad_(False), name, actual, meta, dev)


def calibrate_feature_scale(net: DomainCNN, images: torch.Tensor, batch_size: int = 1000) -> float:
    """Set ``net.feature_scale`` to 1 / RMS of its features over ``images``; return the scale."""
    net.eval()
    net.feature_scale.fill_(1.0)
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            _, features = net(images[start : start + batch_size])
            total += float(features.double().pow(2).sum())
            count += features.numel()
    scale = (count / total) ** 0.5 if total > 0 else 1.0
    net.feature_scale.fill_(scale)
    return scale


def accuracy(net: DomainCNN, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    net.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits, _ = net(images[start : start + batch_size])
            correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train(
    dataset: str,
    out: str | os.PathLike[str] | None = None,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    data_dir: str | None = None,
    limit: int | None = None,
    min_accuracy: float = 0.0,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``<dataset>_cnn`` on the train split, measure it on the test split, and store it.

    Nothing is written when the test accuracy is below ``min_accuracy``. Returns the sidecar's content.
    ``limit`` trains on the first N training images only (tests). ``on_epoch(epoch, loss, seconds)``.
    """
    from gan_engine.config import DataConfig
    from gan_engine.data import load_dataset

    name = domain_scorer_name(dataset)
    if name not in SCORERS:
        raise ScorerError(
            f"dataset {dataset!r} has no domain scorer (it needs fixed labels); choose one of "
            f"{', '.join(SCORERS.get(n).dataset for n in SCORERS.names() if SCORERS.get(n).dataset)}"
        )
    for field, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise ScorerError(f"{field}: must be at least 1, got {value}")
    config = DataConfig(dataset=dataset, data_dir=data_dir)
    train_set, test_set = load_dataset(config, "train"), load_dataset(config, "test")
    images, labels = train_set.images, train_set.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    num_classes = SCORERS.get(name).num_classes

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = DomainCNN(images.shape[1], num_classes).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    started = time.monotonic()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(images), batch_size):
            idx = order[start : start + batch_size]
            logits, _ = net(images[idx])
            loss = F.cross_entropy(logits, labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        if on_epoch is not None:
            on_epoch(epoch + 1, total / len(images), time.monotonic() - started)
    seconds = time.monotonic() - started
    feature_scale = calibrate_feature_scale(net, images[:10000])
    test_accuracy = accuracy(net, test_set.images, test_set.labels)
    if test_accuracy < min_accuracy:
        raise ScorerError(
            f"scorer {name}: test accuracy {test_accuracy:.4f} is below the required {min_accuracy:.4f}; nothing "
            f"stored (train longer with --epochs)"
        )

    weights, sidecar = paths(name, out)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(".pt.tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, weights)
    meta = {
        "name": name,
        "architecture": ARCHITECTURE,
        "dataset": dataset,
        "classes": list(train_set.classes),
        "channels": int(images.shape[1]),
        "image_size": int(images.shape[-1]),
        "num_classes": num_classes,
        "feature_dim": DOMAIN_FEATURES,
        "feature_scale": feature_scale,
        "test_accuracy": test_accuracy,
        "test_examples": len(test_set),
        "train_examples": len(images),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "torch": torch.__version__,
        "sha256": sha256_file(weights),
    }
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return meta
