"""An interval for accuracy that holds when judgments are clustered: by annotators who differ in skill and bias,
and by images that differ in how real they look. The Wilson interval counts every judgment as an independent
trial; with such clusters its 95% covers the truth far less often (the calibration benchmark measures how much)."""

from __future__ import annotations

import math

import numpy as np

from annotation.stats.bootstrap import chunk_rows, percentile_interval, resample_counts
from annotation.stats.table import Judgments

N_BOOT = 1000


def two_way_accuracy_interval(
    j: Judgments, *, n_boot: int = N_BOOT, seed: int | None = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """The percentile interval of accuracy (attention checks excluded) under the two-way bootstrap of
    ``correlation.human_vs_scores`` (McCullagh 2000; Owen 2007, "The pigeonhole bootstrap", Ann. Appl. Stat. 1):
    each resample draws annotators with replacement and, independently, images with replacement within each pool
    (so every pool keeps its number of images); a judgment weighs (times its annotator was drawn) × (times its
    image was drawn), and the resample's accuracy is the weighted share right. Generator:
    ``numpy.random.default_rng(seed)``. ``(nan, nan)`` without judgments or with ``n_boot`` 0."""
    scored = j.scored()
    if len(scored) == 0 or n_boot <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    _, annotator_code = np.unique(scored.annotator, return_inverse=True)
    annotator_code = annotator_code.reshape(-1)
    n_annotators = int(annotator_code.max()) + 1
    # An image is a (pool, item) unit; np.unique sorts by pool first, so each pool's images are contiguous.
    units, unit_code = np.unique(np.stack([scored.pool, scored.item], axis=1), axis=0, return_inverse=True)
    unit_code = unit_code.reshape(-1)
    unit_pool = units[:, 0]
    unit_start = np.searchsorted(unit_pool, unit_pool, side="left")
    unit_size = np.searchsorted(unit_pool, unit_pool, side="right") - unit_start
    n_units = len(units)
    right = scored.correct.astype(np.float64)
    replicates = np.empty(n_boot)
    done = 0
    for rows in chunk_rows(n_boot, max(len(scored), n_units, n_annotators)):
        annotator_counts = resample_counts(rng, n_annotators, rows)
        draws = unit_start + np.floor(rng.random((rows, n_units)) * unit_size).astype(np.int64)
        flat = (draws + np.arange(rows)[:, None] * n_units).reshape(-1)
        unit_counts = np.bincount(flat, minlength=rows * n_units).reshape(rows, n_units).astype(np.float64)
        weight = annotator_counts[:, annotator_code] * unit_counts[:, unit_code]
        den = weight.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            replicates[done : done + rows] = np.where(den > 0, (weight @ right) / den, np.nan)
        done += rows
    return percentile_interval(replicates, confidence)
