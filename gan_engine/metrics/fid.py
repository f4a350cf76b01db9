"""Fréchet distance and kernel (MMD) distance between two sets of features, as pure NumPy functions.

FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)) (Heusel et al. 2017). pytorch-fid and
torch-fidelity take the trace through ``scipy.linalg.sqrtm`` of the non-symmetric S1 S2, which is slow
(tens of seconds at 2048 dimensions) and needs an epsilon retry when S1 is singular. Here the same trace
comes from symmetric eigendecompositions: with S1 = U L U^T and R = U L^(1/2) U^T, S1 S2 is similar to
R S2 R, which is symmetric positive semi-definite, so tr((S1 S2)^(1/2)) = sum of sqrt(eig(R S2 R)).

KID is the unbiased MMD^2 with the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random
subsets (Binkowski et al. 2018), as torch-fidelity computes it, with the same random subsets for a seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_engine.errors import ScorerError


def _features(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ScorerError(f"{name}: expected (N, D) features with N >= 2, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ScorerError(f"{name}: contains NaN or infinite values")
    return a


def feature_statistics(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, in float64."""
    f = _features(features, "features")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(s)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    for name, value, shape in (("mu2", mu2, (d,)), ("sigma1", s1, (d, d)), ("sigma2", s2, (d, d))):
        if value.shape != shape:
            raise ScorerError(f"{name}: expected shape {shape} to match mu1, got {value.shape}")
    # Symmetrise: a covariance read back from disk or summed in another order is symmetric only to rounding.
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    root = _psd_sqrt(s1)
    middle = root @ s2 @ root
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def polynomial_mmd2(x: Any, y: Any, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 between samples x (m, D) and y (n, D) with k(a, b) = (gamma a.b + coef0)^degree,
    gamma defaulting to 1/D."""
    x, y = _features(x, "x"), _features(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ScorerError(f"y: feature dimension {y.shape[1]} differs from x's {x.shape[1]}")
    g = 1.0 / x.shape[1] if gamma is None else gamma
    k_xx = (x @ x.T * g + coef0) ** degree
    k_yy = (y @ y.T * g + coef0) ** degree
    k_xy = (x @ y.T * g + coef0) ** degree
    m, n = len(x), len(y)
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2 * k_xy.mean())


def kernel_inception_distance(
    features1: Any, features2: Any, subsets: int = 100, subset_size: int = 1000, seed: int = 2020
) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial MMD^2 over ``subsets`` random subsets of each set.

    With the same seed, the subsets are torch-fidelity's (one ``RandomState(seed)`` drawing, per subset,
    first from set 1 then from set 2, without replacement). ``subset_size`` shrinks to the smaller set.
    """
    f1, f2 = _features(features1, "features1"), _features(features2, "features2")
    if subsets < 1:
        raise ScorerError(f"subsets: must be at least 1, got {subsets}")
    size = min(subset_size, len(f1), len(f2))
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        a = f1[rng.choice(len(f1), size, replace=False)]
        b = f2[rng.choice(len(f2), size, replace=False)]
        mmds[i] = polynomial_mmd2(a, b)
    return float(mmds.mean()), float(mmds.std())
