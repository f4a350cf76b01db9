"""annotation.stats learning curves and the feedback / no-feedback comparison."""

import math

import numpy as np
import pytest
from scipy.stats import fisher_exact

from annotation.stats import Judgments, compare_arms, learning_curve, wilson_interval


def arm_rows(condition, right, n, annotators=1, start=0):
    """``right`` of ``n`` judgments correct, dealt round-robin to ``annotators`` annotators (ids from ``start``)."""
    return [
        dict(annotator=start + i % annotators, truth_real=True, answer_real=i < right, condition=condition, trial=i)
        for i in range(n)
    ]


def judgments(rows):
    rows = [dict(r, item=i) for i, r in enumerate(rows)]
    return Judgments.from_records(rows)


def test_learning_curve_bins_by_trial_per_condition():
    rows = [dict(annotator=1, truth_real=False, answer_real=t < 4, trial=t, condition="feedback") for t in range(25)]
    rows += [dict(annotator=2, truth_real=True, answer_real=True, trial=t, condition="no_feedback") for t in range(5)]
    rows += [dict(annotator=2, truth_real=True, answer_real=False, trial=3, condition="no_feedback", attention=True)]
    curve = learning_curve(judgments(rows), bin_size=10)
    assert [(p.condition, p.trial_bin_start, p.n) for p in curve] == [
        ("feedback", 0, 10),
        ("feedback", 10, 10),
        ("feedback", 20, 5),
        ("no_feedback", 0, 5),
    ]
    first = curve[0]
    assert first.accuracy == pytest.approx(0.6)  # trials 0–3 wrong (called real), 4–9 right
    assert (first.ci_low, first.ci_high) == pytest.approx(wilson_interval(6, 10))
    assert curve[1].accuracy == 1.0 and curve[3].accuracy == 1.0
    assert learning_curve(Judgments.empty()) == []
    with pytest.raises(ValueError, match="bin_size"):
        learning_curve(judgments(rows), bin_size=0)


def test_compare_arms_reproduces_newcombes_example_and_fisher():
    j = judgments(arm_rows("feedback", 56, 70, annotators=7) + arm_rows("no_feedback", 48, 80, annotators=8, start=100))
    c = compare_arms(j, n_boot=2000)
    assert (c.n_a, c.n_b, c.annotators_a, c.annotators_b) == (70, 80, 7, 8)
    assert (c.acc_a, c.acc_b) == pytest.approx((0.8, 0.6))
    assert c.difference == pytest.approx(0.2)
    assert (c.ci_low, c.ci_high) == pytest.approx((0.0524, 0.3339), abs=5e-5)  # Newcombe (1998b), method 10
    assert c.p_value == pytest.approx(fisher_exact([[56, 14], [48, 32]]).pvalue, rel=1e-12)
    assert c.cluster_ci_low <= c.difference <= c.cluster_ci_high


def test_compare_arms_cluster_interval_sees_heterogeneous_annotators():
    # Arm a: half its annotators always right, half always wrong; the judgment-level interval cannot know that.
    rows = [
        dict(annotator=a, truth_real=True, answer_real=a % 2 == 0, condition="feedback")
        for a in range(6)
        for _ in range(50)
    ]
    rows += arm_rows("no_feedback", 150, 300, annotators=6, start=100)
    c = compare_arms(judgments(rows))
    assert c.difference == pytest.approx(0.0)
    assert c.cluster_ci_high - c.cluster_ci_low > 2 * (c.ci_high - c.ci_low)
    again = compare_arms(judgments(rows))
    assert (again.cluster_ci_low, again.cluster_ci_high) == (c.cluster_ci_low, c.cluster_ci_high)


def test_compare_arms_with_a_missing_arm_or_other_names():
    j = judgments(arm_rows("A", 5, 10) + arm_rows("B", 2, 10, start=5))
    named = compare_arms(j, a="A", b="B", n_boot=0)
    assert named.difference == pytest.approx(0.3) and math.isnan(named.cluster_ci_low)
    missing = compare_arms(j)
    assert missing.n_a == 0 and math.isnan(missing.difference) and math.isnan(missing.p_value)
    assert missing.to_dict()["difference"] is None
    assert np.isnan(missing.ci_low)
