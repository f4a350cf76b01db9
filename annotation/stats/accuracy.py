"""How well annotators tell real from generated images: accuracy with its interval and test against chance,
per-class errors, d′ and c, and response times."""

from __future__ import annotations

import dataclasses
import math

from scipy.stats import binomtest

from annotation.stats.confusion import confusion, finite_mean, finite_median
from annotation.stats.intervals import wilson_interval
from annotation.stats.result import Result
from annotation.stats.signal_detection import signal_detection
from annotation.stats.table import Judgments


@dataclasses.dataclass(frozen=True)
class AccuracySummary(Result):
    """Accuracy and its companions over a set of judgments (attention checks excluded). Rates are fractions;
    undefined ones (no judgments, no real or no generated images) are NaN."""

    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    p_value_vs_chance: float
    fake_error: float
    real_error: float
    d_prime: float
    criterion: float
    mean_response_ms: float
    median_response_ms: float
    confidence: float = 0.95
    n_fake: int = 0
    n_real: int = 0
    fake_ci_low: float = math.nan
    fake_ci_high: float = math.nan
    real_ci_low: float = math.nan
    real_ci_high: float = math.nan


def accuracy_summary(j: Judgments, confidence: float = 0.95) -> AccuracySummary:
    """Summary of ``j``'s judgments, attention checks excluded.

    - accuracy = correct / n, with the Wilson score interval (:func:`wilson_interval`);
    - ``p_value_vs_chance``: two-sided exact binomial test of correct ~ Binomial(n, 0.5)
      (``scipy.stats.binomtest``); small means annotators do better (or worse) than coin flips;
    - ``fake_error`` = generated judged real / generated (the fooling rate), ``real_error`` = real judged
      generated / real, each with its Wilson interval over ``n_fake`` generated and ``n_real`` real judgments;
    - ``d_prime`` and ``criterion`` with "signal" = real and the Hautus (1995) log-linear correction
      (:func:`signal_detection`);
    - mean and median ``response_ms`` over rows where it is known (finite).

    The interval and the test treat judgments as independent; see :func:`hype_infinity` for an interval that
    resamples annotators.
    """
    scored = j.scored()
    counts = confusion(scored)
    low, high = wilson_interval(counts.correct, counts.n, confidence)
    fake_low, fake_high = wilson_interval(counts.fake_judged_real, counts.n_fake, confidence)
    real_low, real_high = wilson_interval(counts.n_real - counts.real_judged_real, counts.n_real, confidence)
    sdt = signal_detection(counts.real_judged_real, counts.n_real, counts.fake_judged_real, counts.n_fake)
    p_value = float(binomtest(counts.correct, counts.n, 0.5).pvalue) if counts.n else math.nan
    return AccuracySummary(
        n=counts.n,
        correct=counts.correct,
        accuracy=counts.accuracy,
        ci_low=low,
        ci_high=high,
        p_value_vs_chance=p_value,
        fake_error=counts.fake_error,
        real_error=counts.real_error,
        d_prime=sdt.d_prime,
        criterion=sdt.criterion,
        mean_response_ms=finite_mean(scored.response_ms),
        median_response_ms=finite_median(scored.response_ms),
        confidence=confidence,
        n_fake=counts.n_fake,
        n_real=counts.n_real,
        fake_ci_low=fake_low,
        fake_ci_high=fake_high,
        real_ci_low=real_low,
        real_ci_high=real_high,
    )
