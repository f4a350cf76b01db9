"""FID and KID against scipy's matrix square root, brute force and torch-fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gan_engine.errors import ScorerError
from gan_engine.metrics import feature_statistics, frechet_distance, kernel_inception_distance, polynomial_mmd2


def reference_fid(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm of the product)."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def correlated(rng, n, d, shift=0.0):
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mix + shift


@pytest.mark.parametrize("n1, n2, d", [(400, 300, 16), (200, 200, 64), (30, 40, 64)])  # the last: singular
def test_frechet_distance_matches_scipy_sqrtm(n1, n2, d):
    rng = np.random.default_rng(d + n1)
    s1 = feature_statistics(correlated(rng, n1, d))
    s2 = feature_statistics(correlated(rng, n2, d, shift=0.3))
    ours = frechet_distance(*s1, *s2)
    assert ours == pytest.approx(reference_fid(*s1, *s2), rel=1e-6, abs=1e-8)
    assert ours > 0


def test_frechet_distance_of_a_set_to_itself_is_zero_and_a_shift_adds_its_square():
    rng = np.random.default_rng(5)
    mu, sigma = feature_statistics(correlated(rng, 500, 12))
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9 * np.trace(sigma))
    shift = np.arange(12) * 0.1
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift, rel=1e-9)


def test_frechet_distance_checks_shapes():
    with pytest.raises(ScorerError, match="sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


def test_feature_statistics_are_mean_and_unbiased_covariance():
    f = np.random.default_rng(0).normal(size=(50, 4))
    mu, sigma = feature_statistics(torch.from_numpy(f))
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(sigma, (f - f.mean(0)).T @ (f - f.mean(0)) / 49)


def test_polynomial_mmd2_matches_a_double_loop():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(9, 3)) + 0.5

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(9)) / (7 * 9)
    assert polynomial_mmd2(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_matches_torch_fidelity_with_the_same_subsets():
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(2)
    f1, f2 = correlated(rng, 120, 8), correlated(rng, 150, 8, shift=0.2)
    theirs = kid_features_to_metric(
        torch.from_numpy(f1), torch.from_numpy(f2), kid_subsets=7, kid_subset_size=50, rng_seed=2020, verbose=False
    )
    mean, std = kernel_inception_distance(f1, f2, subsets=7, subset_size=50, seed=2020)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-10)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-8)
    same, _ = kernel_inception_distance(f1, f1.copy(), subsets=5, subset_size=120)
    assert abs(same) < mean
