"""Statistics of human visual Turing tests, as pure NumPy/SciPy functions (no Django, no torch).

The app converts its judgments to a :class:`Judgments` table and renders the returned frozen dataclasses (each has
``to_dict()``). Rates are fractions in [0, 1]; undefined numbers are NaN (``None`` in ``to_dict()``). Every
statistic except :func:`per_annotator` leaves attention-check rows out.
"""

from annotation.stats.accuracy import AccuracySummary, accuracy_summary
from annotation.stats.annotators import (
    QUALIFICATION_THRESHOLD,
    AnnotatorSummary,
    exclude_flagged,
    per_annotator,
    qualification_passed,
)
from annotation.stats.arms import ArmComparison, CurvePoint, compare_arms, learning_curve
from annotation.stats.clustered import two_way_accuracy_interval
from annotation.stats.correlation import Correlation, PoolPoint, human_vs_scores
from annotation.stats.hype import HypeScore, block_modes, hype_infinity, hype_time_score, modal_exposure
from annotation.stats.intervals import newcombe_interval, wilson_interval
from annotation.stats.signal_detection import SignalDetection, signal_detection
from annotation.stats.staircase import START_MS, exposure_sequence, next_exposure
from annotation.stats.table import Judgments

__all__ = [
    "QUALIFICATION_THRESHOLD",
    "START_MS",
    "AccuracySummary",
    "AnnotatorSummary",
    "ArmComparison",
    "Correlation",
    "CurvePoint",
    "HypeScore",
    "Judgments",
    "PoolPoint",
    "SignalDetection",
    "accuracy_summary",
    "block_modes",
    "compare_arms",
    "exclude_flagged",
    "exposure_sequence",
    "human_vs_scores",
    "hype_infinity",
    "hype_time_score",
    "learning_curve",
    "modal_exposure",
    "newcombe_interval",
    "next_exposure",
    "per_annotator",
    "qualification_passed",
    "signal_detection",
    "two_way_accuracy_interval",
    "wilson_interval",
]
