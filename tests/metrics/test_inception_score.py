"""The Inception Score's maths against direct computations and the paper's reference code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_engine.errors import ScorerError
from gan_engine.metrics import image_kl, inception_score, softmax, split_scores, top_fraction
from gan_engine.metrics.inception_score import split_bounds


def reference_is(preds: np.ndarray, splits: int) -> tuple[float, float]:
    """openai/improved-gan inception_score/model.py, get_inception_score, after the network."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits) : ((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize("k", [2, 10, 1008])
def test_uniform_predictions_score_one(k):
    mean, std = inception_score(np.full((50, k), 1.0 / k), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 7, 10])
def test_confident_evenly_spread_predictions_score_k(k):
    # Each split holds every class equally often (contiguous splits of a period-k sequence).
    n, splits = k * 4 * 10, 10
    probs = np.eye(k)[np.arange(n) % k]
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_confident_on_one_class_only_scores_one():
    probs = np.zeros((40, 10))
    probs[:, 3] = 1
    assert inception_score(probs, splits=4)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("splits", [1, 3, 10])
def test_dirichlet_probabilities_match_the_reference_code(splits):
    rng = np.random.default_rng(splits)
    probs = rng.dirichlet(np.full(20, 0.3), size=203)  # 203: splits of unequal size
    assert inception_score(probs, splits) == pytest.approx(reference_is(probs, splits), rel=1e-12)


def test_matches_torch_fidelity_with_and_without_its_shuffle():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(300, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3
    for shuffle, seed in ((False, None), (True, 2020)):
        theirs = isc_features_to_metric(logits, splits=10, shuffle=shuffle, rng_seed=2020)
        mean, std = inception_score(softmax(logits), splits=10, shuffle_seed=seed)
        assert mean == pytest.approx(theirs["inception_score_mean"], rel=1e-10)
        assert std == pytest.approx(theirs["inception_score_std"], rel=1e-8)


def test_tensor_input_equals_array_input():
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=30)
    assert inception_score(torch.from_numpy(probs).float(), 3) == pytest.approx(inception_score(probs, 3), rel=1e-6)


def test_split_bounds_are_the_reference_slices():
    assert split_bounds(25, 10) == [(i * 25 // 10, (i + 1) * 25 // 10) for i in range(10)]
    sizes = [e - s for s, e in split_bounds(25, 10)]
    assert sum(sizes) == 25 and set(sizes) == {2, 3}


def test_each_split_is_scored_with_its_own_marginal():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(8, 0.5), size=90)
    per_split = split_scores(probs, splits=3)
    for i, (s, e) in enumerate(split_bounds(90, 3)):
        assert per_split[i] == pytest.approx(inception_score(probs[s:e], splits=1)[0], rel=1e-12)
    # Two halves confident on disjoint classes: each split alone scores 1, the pool as one split 2.
    probs = np.zeros((20, 2))
    probs[:10, 0] = probs[10:, 1] = 1
    assert inception_score(probs, splits=2) == pytest.approx((1.0, 0.0))
    assert inception_score(probs, splits=1)[0] == pytest.approx(2.0)


def test_per_image_kl_averages_to_the_log_score_and_ranks_confident_images_first():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.full(10, 1.0), size=100)
    kl = image_kl(probs, splits=4)
    for (s, e), score in zip(split_bounds(100, 4), split_scores(probs, 4), strict=True):
        assert np.exp(kl[s:e].mean()) == pytest.approx(score, rel=1e-12)
    probs[[17, 42]] = np.eye(10)[[1, 6]]  # two certain images stand out from diffuse ones
    assert set(top_fraction(probs, 0.02)) == {17, 42}
    assert len(top_fraction(probs, 0.001)) == 1


@pytest.mark.parametrize(
    "probs, match",
    [
        (np.array([0.5, 0.5]), "shape"),
        (np.array([[0.5, 0.6]]), "sums to"),
        (np.array([[1.5, -0.5]]), "negative"),
        (np.array([[np.nan, 1.0]]), "NaN"),
    ],
)
def test_bad_probabilities_are_refused_by_name(probs, match):
    with pytest.raises(ScorerError, match=f"probs: .*{match}"):
        inception_score(probs, splits=1)


def test_too_few_images_for_the_splits():
    with pytest.raises(ScorerError, match="splits: 10 splits need at least 10 images"):
        inception_score(np.full((5, 2), 0.5), splits=10)
