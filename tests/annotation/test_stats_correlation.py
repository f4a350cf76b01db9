"""annotation.stats human error against pool scores: per-pool error and Wilson bars, scipy's correlations, the
two-way (annotators × images) bootstrap against a plain loop."""

import math

import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from annotation.stats import Judgments, human_vs_scores, wilson_interval
from annotation.stats.clustered import two_way_interval
from annotation.stats.correlation import _two_way_bootstrap

SCORES = {10: 3.0, 11: 4.5, 12: 5.0, 13: 6.5, 14: 7.0}
QUALITY = [-2.0, -1.1, -1.5, -0.6, -0.9]  # logit of the fooling rate: rising with the score, not in lockstep


def study(n_annotators=40, items=12, seed=0):
    """Every annotator judges every generated image of five pools whose fooling rate tends to rise with the score;
    annotators differ in how readily they say "real", images in how convincing they are. Pool 1 holds real
    images, which must not count."""
    rng = np.random.default_rng(seed)
    bias = rng.normal(0, 1.0, n_annotators)
    rows = []
    for k, pool in enumerate(SCORES):
        quality = QUALITY[k]
        for i in range(items):
            item = pool * 100 + i
            convincing = rng.normal(0, 0.7)
            p_real = 1 / (1 + np.exp(-(quality + convincing + bias)))
            answers = rng.random(n_annotators) < p_real
            rows += [
                dict(annotator=a, item=item, pool=pool, truth_real=False, answer_real=bool(answers[a]))
                for a in range(n_annotators)
            ]
    rows += [dict(annotator=a, item=5000 + a, pool=1, truth_real=True, answer_real=False) for a in range(n_annotators)]
    rows += [dict(annotator=0, item=10_000, pool=10, truth_real=False, answer_real=False, attention=True)]
    return Judgments.from_records(rows)


def test_point_estimates_match_scipy_and_direct_errors():
    j = study()
    c = human_vs_scores(j, {**SCORES, 1: 9.0, 77: 1.0}, n_boot=200)
    assert c.n_pools == 5 and c.pools_without_judgments == [1, 77]
    assert [p.pool for p in c.points] == list(SCORES)
    errors = []
    for p in c.points:
        rows = (j.pool == p.pool) & ~j.attention
        k, n = int(j.answer_real[rows].sum()), int(rows.sum())
        errors.append(k / n)
        assert (p.human_error, p.n, p.n_items, p.score) == (k / n, n, 12, SCORES[p.pool])
        assert (p.error_ci_low, p.error_ci_high) == pytest.approx(wilson_interval(k, n))
        # The interval clustered by annotators and images, over the pool's generated images alone.
        fake = j.subset(rows)
        assert (p.clustered_ci_low, p.clustered_ci_high) == pytest.approx(two_way_interval(fake, fake.answer_real))
        assert p.clustered_ci_low < k / n < p.clustered_ci_high
    x = list(SCORES.values())
    assert c.pearson_r == pytest.approx(pearsonr(x, errors).statistic, rel=1e-12)
    assert c.pearson_p == pytest.approx(pearsonr(x, errors).pvalue, rel=1e-12)
    assert c.spearman_rho == pytest.approx(spearmanr(x, errors).statistic, rel=1e-12)
    assert c.spearman_p == pytest.approx(spearmanr(x, errors).pvalue, rel=1e-12)
    assert c.kendall_tau == pytest.approx(kendalltau(x, errors).statistic, rel=1e-12)
    assert c.kendall_p == pytest.approx(kendalltau(x, errors).pvalue, rel=1e-12)
    assert c.undefined_reason == ""
    assert c.pearson_ci[0] <= c.pearson_r <= c.pearson_ci[1]
    assert c.spearman_ci[0] <= c.spearman_rho <= c.spearman_ci[1]


def test_two_way_bootstrap_matches_a_plain_loop():
    j = study(n_annotators=6, items=4, seed=3)
    fake = j.subset(~j.truth_real & ~j.attention & np.isin(j.pool, list(SCORES)))
    fake = fake.subset(np.argsort(fake.pool, kind="stable"))
    pools, row_starts = np.unique(fake.pool, return_index=True)
    x = np.array([SCORES[int(p)] for p in pools])
    r, rho, skipped = _two_way_bootstrap(fake, row_starts, fake.answer_real.astype(float), 50, 9, x)

    # The same draws, used one resample at a time: annotators 0..5, images sorted by (pool, item).
    rng = np.random.default_rng(9)
    annotator_draws = rng.integers(0, 6, size=(50, 6))
    units = sorted({(int(p), int(i)) for p, i in zip(fake.pool, fake.item)})
    uniform = rng.random((50, len(units)))
    expected_r, expected_rho = [], []
    for b in range(50):
        annotator_n = np.bincount(annotator_draws[b], minlength=6)
        unit_n = dict.fromkeys(units, 0)
        for slot, (pool, _) in enumerate(units):
            same_pool = [u for u in units if u[0] == pool]
            unit_n[same_pool[int(uniform[b, slot] * len(same_pool))]] += 1
        err = []
        for pool in pools:
            num = den = 0.0
            for a, p, i, said_real in zip(fake.annotator, fake.pool, fake.item, fake.answer_real):
                if p == pool:
                    w = annotator_n[a] * unit_n[(int(p), int(i))]
                    num, den = num + w * said_real, den + w
            err.append(num / den if den else math.nan)
        if not np.isnan(err).any():
            expected_r.append(pearsonr(x, err).statistic if np.ptp(err) else math.nan)
            expected_rho.append(spearmanr(x, err).statistic if np.ptp(err) else math.nan)
    assert skipped == 50 - len(expected_r)
    np.testing.assert_allclose(r, expected_r, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rho, expected_rho, rtol=1e-9, atol=1e-12)


def test_bootstrap_is_seeded_and_widens_with_fewer_annotators():
    j = study()
    first, again, other = (human_vs_scores(j, SCORES, n_boot=400, seed=s) for s in (1, 1, 2))
    assert first.pearson_ci == again.pearson_ci and first.spearman_ci == again.spearman_ci
    assert first.pearson_ci != other.pearson_ci
    few = human_vs_scores(j.subset(j.annotator < 6), SCORES, n_boot=400, seed=1)

    def width(ci):
        return ci[1] - ci[0]

    assert width(few.pearson_ci) > 1.2 * width(first.pearson_ci)
    assert (first.n_boot, first.n_boot_skipped) == (400, 0)


def test_resamples_that_empty_a_pool_are_skipped_and_counted():
    rows = [
        dict(annotator=a, item=pool * 10 + i, pool=pool, truth_real=False, answer_real=(a + i + pool) % 3 == 0)
        for pool in (11, 12, 13)
        for a in range(5)
        for i in range(4)
    ]
    rows += [dict(annotator=0, item=100 + i, pool=10, truth_real=False, answer_real=i % 2 == 0) for i in range(4)]
    c = human_vs_scores(Judgments.from_records(rows), SCORES, n_boot=2000, seed=0)
    # Pool 10 has only annotator 0, who is missing from a resample of 5 with probability (4/5)^5 = 0.328.
    assert abs(c.n_boot_skipped - 0.32768 * 2000) < 100
    assert math.isfinite(c.pearson_ci[0])


def test_too_few_pools_or_constant_errors_give_nan():
    j = study(n_annotators=5, items=3)
    two = human_vs_scores(j, {10: 1.0, 11: 2.0}, n_boot=50)
    assert two.n_pools == 2 and math.isnan(two.pearson_r) and math.isnan(two.pearson_ci[0])
    assert len(two.points) == 2 and math.isnan(two.kendall_tau)
    assert two.undefined_reason.startswith("2 generated pools with judgments: a correlation needs at least 3")
    flat = [dict(annotator=0, item=p, pool=p, truth_real=False, answer_real=False) for p in SCORES]
    c = human_vs_scores(Judgments.from_records(flat), SCORES, n_boot=50)
    assert math.isnan(c.pearson_r) and c.n_boot_undefined == 50
    assert c.undefined_reason == "every pool has the same human error: no correlation at this sample"
    d = c.to_dict()
    assert d["pearson_ci"] == [None, None] and d["points"][0]["pool"] == 10
