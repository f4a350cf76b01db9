"""HYPE scores (Zhou et al., NeurIPS 2019): HYPE∞, the human error rate without time limits, and HYPE-time, the
exposure at which annotators stop telling real from generated; both with bootstrap intervals over annotators.

Reference: S. Zhou, M. Gordon, R. Krishna, A. Narcomey, L. Fei-Fei, M. Bernstein, "HYPE: A Benchmark for Human
eYe Perceptual Evaluation of Generative Models", NeurIPS 2019.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from annotation.stats.bootstrap import bootstrap_ratio, percentile_interval
from annotation.stats.confusion import confusion
from annotation.stats.result import Result
from annotation.stats.table import Judgments

N_BOOT = 10_000
SHOWN_TOLERANCE_MS = 50.0


@dataclasses.dataclass(frozen=True)
class HypeScore(Result):
    """A HYPE score with its percentile bootstrap interval over annotators.

    ``unit`` says what ``score`` is: ``"fraction"`` for HYPE∞ (an error rate in [0, 1]; ×100 for the paper's
    percent) and ``"ms"`` for HYPE-time. ``fake_error`` and ``real_error`` are the pooled per-class error rates of
    the judgments the score was computed from; ``n`` counts those judgments.
    """

    score: float
    ci_low: float
    ci_high: float
    fake_error: float
    real_error: float
    n_annotators: int
    n: int
    unit: str
    confidence: float = 0.95
    n_boot: int = N_BOOT


def _per_annotator(annotator: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct annotator: the sum of ``values`` and the number of rows."""
    _, codes = np.unique(annotator, return_inverse=True)
    return np.bincount(codes, weights=values), np.bincount(codes).astype(np.float64)


def hype_infinity(j: Judgments, *, n_boot: int = N_BOOT, seed: int | None = 0, confidence: float = 0.95) -> HypeScore:
    """HYPE∞: the fraction of judgments that are wrong, generated images judged real plus real images judged
    generated, over all judgments (attention checks excluded)::

        HYPE∞ = (fake judged real + real judged fake) / (n_fake + n_real)

    0.5 means annotators cannot tell the model's images from real ones (with the paper's balanced real/generated
    sets); above 0.5, "hyper-realism".

    The interval resamples annotators with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``) and
    recomputes the pooled error over the resampled annotators' judgments; it is the percentile interval of those
    replicates (the paper's bootstrap). Resampling annotators, not judgments, keeps each annotator's correlated
    answers together.
    """
    scored = j.scored()
    counts = confusion(scored)
    wrong, per_n = _per_annotator(scored.annotator, (~scored.correct).astype(np.float64))
    low, high = (math.nan, math.nan)
    if len(per_n) and n_boot > 0:
        low, high = percentile_interval(bootstrap_ratio(wrong, per_n, n_boot=n_boot, seed=seed), confidence)
    return HypeScore(
        score=counts.errors / counts.n if counts.n else math.nan,
        ci_low=low,
        ci_high=high,
        fake_error=counts.fake_error,
        real_error=counts.real_error,
        n_annotators=len(per_n),
        n=counts.n,
        unit="fraction",
        confidence=confidence,
        n_boot=n_boot,
    )


def modal_exposure(exposures_ms: np.ndarray) -> float:
    """The most frequent finite value of ``exposures_ms``; among equally frequent values, the lowest.

    HYPE-time takes the mode of the staircase's exposures in a block as the annotator's threshold for it. A tie
    breaks to the lowest exposure: the result must not depend on row order, and the lower value is the conservative
    one for the model (a lower HYPE-time). ``np.unique`` sorts ascending and ``argmax`` returns the first maximum.
    NaN when there are no finite values.
    """
    finite = np.asarray(exposures_ms, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan
    values, counts = np.unique(finite, return_counts=True)
    return float(values[np.argmax(counts)])


def exposures_shown(j: Judgments, *, tolerance_ms: float = SHOWN_TOLERANCE_MS) -> np.ndarray:
    """Per row, the exposure the annotator saw (ms): the one the browser measured on screen, rounded to the whole
    ms the staircase steps in (frame timestamps jitter by microseconds, and a mode needs equal values), where it
    was measured within ``tolerance_ms`` of the requested one; else the requested one (NaN: unlimited).

    Rounding to the nearest frame moves an exposure by at most half a frame, and a display ends it within a frame
    after that: 1.5 frames, 50 ms on a 30 Hz screen, the slowest in use. A measurement further off is a stall (a
    dropped frame) or a made-up number, which must not move the score further than that."""
    shown = j.exposure_shown_ms
    plausible = np.isfinite(shown) & (np.abs(shown - j.exposure_ms) <= tolerance_ms)
    return np.where(plausible, np.round(shown), j.exposure_ms)


def block_modes(j: Judgments) -> dict[int, dict[int, float]]:
    """``{annotator: {block: modal exposure}}`` over ``j``'s time-limited rows (finite ``exposure_ms``; attention
    checks excluded), of the exposures shown (:func:`exposures_shown`)."""
    scored = j.scored()
    timed = scored.subset(np.isfinite(scored.exposure_ms))
    shown = exposures_shown(timed)
    modes: dict[int, dict[int, float]] = {}
    keys = np.stack([timed.annotator, timed.block], axis=1)
    groups, codes = np.unique(keys, axis=0, return_inverse=True)
    codes = codes.reshape(-1)
    for g, (annotator, block) in enumerate(groups):
        modes.setdefault(int(annotator), {})[int(block)] = modal_exposure(shown[codes == g])
    return modes


def hype_time_score(
    j: Judgments,
    *,
    n_boot: int = N_BOOT,
    seed: int | None = 0,
    confidence: float = 0.95,
    include_dropped: bool = False,
) -> HypeScore:
    """HYPE-time, in ms: for each annotator and block, the modal exposure shown (:func:`exposures_shown`: measured
    on screen where the browser measured it; :func:`modal_exposure`, ties to the lowest); an annotator's score is
    the mean over their blocks (§2.1: "We average the modal exposure times across blocks to calculate a final value
    for each evaluator"); the study's score is the mean over annotators (§4.1 reports "a mean of 439.3 ms" over the
    evaluators). Only rows with a finite ``exposure_ms`` count (attention checks excluded), and, unless
    ``include_dropped``, none with dropped frames: their exposure is known only to within the stall
    (docs/annotation.md, "Timing").

    Higher is better for the model: annotators needed a longer look to tell its images from real ones.

    The interval resamples annotators with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``),
    recomputing the mean of their scores; it is the percentile interval of those replicates.
    """
    scored = j.scored()
    timed = scored.subset(np.isfinite(scored.exposure_ms) & (include_dropped | ~scored.dropped_frames))
    modes = block_modes(timed)
    per_annotator = np.array([np.mean(list(blocks.values())) for blocks in modes.values()], dtype=np.float64)
    counts = confusion(timed)
    low, high = (math.nan, math.nan)
    if per_annotator.size and n_boot > 0:
        replicates = bootstrap_ratio(per_annotator, np.ones_like(per_annotator), n_boot=n_boot, seed=seed)
        low, high = percentile_interval(replicates, confidence)
    return HypeScore(
        score=float(per_annotator.mean()) if per_annotator.size else math.nan,
        ci_low=low,
        ci_high=high,
        fake_error=counts.fake_error,
        real_error=counts.real_error,
        n_annotators=int(per_annotator.size),
        n=counts.n,
        unit="ms",
        confidence=confidence,
        n_boot=n_boot,
    )
