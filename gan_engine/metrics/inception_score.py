"""The Inception Score as the paper's reference code computes it, and its per-image terms.

IS = exp(E_x KL(p(y|x) || p(y))). The reference code (openai/improved-gan, inception_score/model.py) cuts
the N predictions into ``splits`` contiguous parts (rows ``i*N//splits`` to ``(i+1)*N//splits``),
estimates p(y) as each part's mean, and reports the mean and the (population) standard deviation of the
per-part scores. Everything is float64 NumPy; tensors are accepted and copied to the CPU.

torch-fidelity shuffles the rows (seed 2020) before splitting; ``shuffle_seed=2020`` reproduces its
numbers, the default (no shuffle) the paper's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import log_softmax as _log_softmax
from scipy.special import xlogy

from gan_engine.errors import ScorerError


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().double().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ScorerError(f"{name}: expected a non-empty (N, K) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ScorerError(f"{name}: contains NaN or infinite values")
    return a


def as_probs(probs: Any) -> np.ndarray:
    """``probs`` as float64 (N, K), checked to be rows of class probabilities."""
    p = _array(probs, "probs")
    if (p < 0).any():
        raise ScorerError("probs: negative entries; pass probabilities (softmax of the logits), not logits")
    sums = p.sum(axis=1)
    worst = int(np.abs(sums - 1).argmax())
    if abs(sums[worst] - 1) > 1e-4:
        raise ScorerError(f"probs: row {worst} sums to {sums[worst]:.6f}, not 1; pass softmax(logits)")
    return p


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax in float64: the class probabilities of (N, K) logits."""
    return np.exp(_log_softmax(_array(logits, "logits"), axis=1))


def split_bounds(n: int, splits: int) -> list[tuple[int, int]]:
    """The reference code's contiguous parts: ``[(i*n//splits, (i+1)*n//splits) for i in range(splits)]``."""
    if splits < 1:
        raise ScorerError(f"splits: must be at least 1, got {splits}")
    if n < splits:
        raise ScorerError(f"splits: {splits} splits need at least {splits} images, got {n}")
    return [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]


def _order(n: int, shuffle_seed: int | None) -> np.ndarray:
    if shuffle_seed is None:
        return np.arange(n)
    return np.random.RandomState(shuffle_seed).permutation(n)


def image_kl(probs: Any, splits: int = 1, shuffle_seed: int | None = None) -> np.ndarray:
    """KL(p(y|x) || p(y)) of every image (N,), p(y) being the mean over the image's split.

    ``exp(mean)`` of one split's values is that split's score; with ``splits=1`` (p(y) over the whole
    pool) the values rank a pool for the paper's "top 1% by Inception Score" selection.
    """
    p = as_probs(probs)
    order = _order(len(p), shuffle_seed)
    kl = np.empty(len(p))
    for start, end in split_bounds(len(p), splits):
        rows = order[start:end]
        part = p[rows]
        marginal = part.mean(axis=0, keepdims=True)
        # xlogy: a class with p(y|x) = 0 contributes 0, where the reference code's p*log(p) gives NaN.
        kl[rows] = (xlogy(part, part) - xlogy(part, marginal)).sum(axis=1)
    return kl


def split_scores(probs: Any, splits: int = 10, shuffle_seed: int | None = None) -> np.ndarray:
    """The score of each split: ``exp(mean KL)`` over its images (splits,)."""
    kl = image_kl(probs, splits, shuffle_seed)
    order = _order(len(kl), shuffle_seed)
    return np.array([np.exp(kl[order[s:e]].mean()) for s, e in split_bounds(len(kl), splits)])


def inception_score(probs: Any, splits: int = 10, shuffle_seed: int | None = None) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` parts of the (N, K) class probabilities."""
    scores = split_scores(probs, splits, shuffle_seed)
    return float(scores.mean()), float(scores.std())


def top_fraction(probs: Any, fraction: float) -> np.ndarray:
    """Indices of the ``fraction`` of images with the largest KL(p(y|x) || p(y)) over the whole pool, best
    first (at least one image)."""
    if not 0 < fraction <= 1:
        raise ScorerError(f"fraction: must be in (0, 1], got {fraction}")
    kl = image_kl(probs, splits=1)
    k = max(1, round(fraction * len(kl)))
    return np.argsort(-kl, kind="stable")[:k]
