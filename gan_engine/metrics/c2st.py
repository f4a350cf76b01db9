"""Classifier two-sample test (C2ST): can a small network tell a pool's images from real ones?

Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample Tests" (ICLR), section 2: pool the two samples with
labels (real 1, generated 0), train a binary classifier on one part, and report its accuracy on the held-out
rest. Under the null hypothesis that both samples come from one distribution, the n_test held-out predictions
are right with probability 1/2 each, so the count of correct ones is Binomial(n_test, 1/2): the test's p-value
is that binomial's upper tail, and the accuracy's interval is the binomial (Clopper-Pearson) one. 50% means
indistinguishable to this classifier, 100% trivially separable: the automatic analogue of a human visual
Turing test, where a person's accuracy plays the classifier's.

The samples are balanced (the larger one is cut to the smaller's size, so that chance is 50%) and split in
halves, as in the paper. The classifier is a small convolutional network on pixels scaled to [-1, 1], trained
with Adam for a fixed number of epochs: the test is valid for any classifier fixed before the held-out half is
seen, and a weak one only loses power.
"""

from __future__ import annotations

from typing import Any

import torch
from scipy.stats import binomtest
from torch import nn

from gan_engine.errors import PoolError

TEST_FRACTION = 0.5
MIN_IMAGES = 8  # per sample: fewer leave a held-out set too small for any interval worth reading


def accuracy_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """The held-out accuracy's Clopper-Pearson interval and the one-sided p-value of ``correct`` of ``n``
    against chance (Binomial(n, 1/2), the null of Lopez-Paz & Oquab 2017, section 2)."""
    test = binomtest(correct, n, 0.5, alternative="greater")
    ci = binomtest(correct, n).proportion_ci(confidence, method="exact")
    return float(ci.low), float(ci.high), float(test.pvalue)


def _classifier(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 1),
    )


def c2st(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    confidence: float = 0.95,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The C2ST of two uint8 (N, C, H, W) samples of one shape: held-out accuracy, its interval, the p-value
    against chance, and how many images were held out (``c2st_n_test``) and trained on (``c2st_n_train``)."""
    for label, images in (("real", real), ("generated", fake)):
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise PoolError(f"{label} images: expected a (N, C, H, W) tensor")
    if real.shape[1:] != fake.shape[1:]:
        raise PoolError(
            f"real images are {tuple(real.shape[1:])}, generated ones {tuple(fake.shape[1:])}: "
            "a two-sample test compares images of one size and mode"
        )
    n = min(len(real), len(fake))
    if n < MIN_IMAGES:
        raise PoolError(f"C2ST needs at least {MIN_IMAGES} images of each kind, got {len(real)} real, {len(fake)}")
    generator = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(len(real), generator=generator)[:n]]
    fake = fake[torch.randperm(len(fake), generator=generator)[:n]]
    x = torch.cat([real, fake]).float().div(127.5).sub(1.0)
    y = torch.cat([torch.ones(n), torch.zeros(n)])
    order = torch.randperm(2 * n, generator=generator)
    x, y = x[order], y[order]
    n_test = max(1, round(2 * n * TEST_FRACTION))
    x_train, y_train, x_test, y_test = x[n_test:], y[n_test:], x[:n_test], y[:n_test]

    torch.manual_seed(seed)
    model = _classifier(x.shape[1]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x_train), generator=generator).split(batch_size):
            optimiser.zero_grad()
            loss(model(x_train[batch].to(device)).squeeze(1), y_train[batch].to(device)).backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(part.to(device)).squeeze(1).cpu() for part in x_test.split(batch_size)])
    correct = int(((logits > 0).float() == y_test).sum())
    low, high, p_value = accuracy_interval(correct, n_test, confidence)
    return {
        "c2st_accuracy": correct / n_test,
        "c2st_ci_low": low,
        "c2st_ci_high": high,
        "c2st_p_value": p_value,
        "c2st_n_test": n_test,
        "c2st_n_train": len(x_train),
    }
