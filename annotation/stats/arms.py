"""Learning over trials and the feedback experiment: accuracy by trial bin per condition, and the difference in
accuracy between two conditions (arms)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.stats import fisher_exact

from annotation.stats.bootstrap import bootstrap_ratio, percentile_interval
from annotation.stats.confusion import confusion
from annotation.stats.intervals import newcombe_interval, wilson_interval
from annotation.stats.result import Result
from annotation.stats.table import Judgments


@dataclasses.dataclass(frozen=True)
class CurvePoint(Result):
    """Accuracy of one condition's judgments with trial index in [trial_bin_start, trial_bin_start + bin_size)."""

    condition: str
    trial_bin_start: int
    n: int
    accuracy: float
    ci_low: float
    ci_high: float


def learning_curve(j: Judgments, bin_size: int = 10, confidence: float = 0.95) -> list[CurvePoint]:
    """Accuracy by bins of ``bin_size`` consecutive trial indices (0–9, 10–19, …), per condition, with Wilson
    intervals (attention checks excluded). Sorted by condition, then bin; empty bins are left out.

    Accuracy rising over trials in the feedback arm and not in the other is the sign that annotators learn the
    model's artifacts from feedback (Salimans et al. 2016 observed that feedback changes what annotators can
    tell apart). The intervals treat judgments as independent.
    """
    if bin_size < 1:
        raise ValueError(f"bin_size: must be at least 1, got {bin_size}")
    scored = j.scored()
    starts = scored.trial // bin_size * bin_size
    correct = scored.correct
    points = []
    for condition in np.unique(scored.condition):
        in_condition = scored.condition == condition
        for start in np.unique(starts[in_condition]):
            rows = in_condition & (starts == start)
            n, k = int(rows.sum()), int(correct[rows].sum())
            low, high = wilson_interval(k, n, confidence)
            points.append(CurvePoint(str(condition), int(start), n, k / n, low, high))
    return points


@dataclasses.dataclass(frozen=True)
class ArmComparison(Result):
    """Accuracy in arm a minus accuracy in arm b, with two intervals for the difference.

    ``ci_low``/``ci_high`` (Newcombe) and ``p_value`` (Fisher) treat every judgment as independent;
    ``cluster_ci_low``/``cluster_ci_high`` resample annotators within each arm and so account for annotators who
    are better or worse than others. With few annotators per arm, trust the cluster interval.
    """

    a: str
    b: str
    acc_a: float
    acc_b: float
    n_a: int
    n_b: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    cluster_ci_low: float
    cluster_ci_high: float
    annotators_a: int
    annotators_b: int
    confidence: float = 0.95


def compare_arms(
    j: Judgments,
    a: str = "feedback",
    b: str = "no_feedback",
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int | None = 0,
) -> ArmComparison:
    """Compare the accuracy of condition ``a`` with condition ``b`` (attention checks excluded).

    - ``difference`` = acc_a − acc_b;
    - ``ci_low``/``ci_high``: Newcombe's hybrid score interval (Newcombe 1998, method 10; :func:`newcombe_interval`);
    - ``p_value``: two-sided Fisher exact test (``scipy.stats.fisher_exact``) on the 2×2 table of right/wrong by
      arm, exact at any sample size where the two-proportion z-test is not;
    - ``cluster_ci_low``/``cluster_ci_high``: percentile bootstrap interval resampling annotators with replacement
      within each arm independently (``n_boot`` times; the two arms' generators are spawned from
      ``numpy.random.SeedSequence(seed)``), recomputing each arm's pooled accuracy. ``n_boot=0`` skips it (NaN).

    NaN where an arm has no judgments. The cluster interval assumes a between-annotator design (each annotator in
    one arm); an annotator in both arms is resampled independently in each.
    """
    scored = j.scored()
    arm_a = scored.subset(scored.condition == a)
    arm_b = scored.subset(scored.condition == b)
    ca, cb = confusion(arm_a), confusion(arm_b)
    low, high = newcombe_interval(ca.correct, ca.n, cb.correct, cb.n, confidence)
    p_value = math.nan
    if ca.n and cb.n:
        table = [[ca.correct, ca.n - ca.correct], [cb.correct, cb.n - cb.correct]]
        p_value = float(fisher_exact(table, alternative="two-sided").pvalue)
    cluster = (math.nan, math.nan)
    if ca.n and cb.n and n_boot > 0:
        # Independent streams per arm from one seed: the arms are resampled independently, and one seed fixes both.
        seed_a, seed_b = np.random.SeedSequence(seed).spawn(2)
        replicates = _arm_replicates(arm_a, n_boot, seed_a) - _arm_replicates(arm_b, n_boot, seed_b)
        cluster = percentile_interval(replicates, confidence)
    return ArmComparison(
        a=a,
        b=b,
        acc_a=ca.accuracy,
        acc_b=cb.accuracy,
        n_a=ca.n,
        n_b=cb.n,
        difference=ca.accuracy - cb.accuracy if ca.n and cb.n else math.nan,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        cluster_ci_low=cluster[0],
        cluster_ci_high=cluster[1],
        annotators_a=len(np.unique(arm_a.annotator)),
        annotators_b=len(np.unique(arm_b.annotator)),
        confidence=confidence,
    )


def _arm_replicates(arm: Judgments, n_boot: int, seed: np.random.SeedSequence) -> np.ndarray:
    """Bootstrap replicates of one arm's pooled accuracy, annotators resampled."""
    _, codes = np.unique(arm.annotator, return_inverse=True)
    right = np.bincount(codes, weights=arm.correct.astype(np.float64))
    return bootstrap_ratio(right, np.bincount(codes).astype(np.float64), n_boot=n_boot, seed=seed)
