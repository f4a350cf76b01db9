"""Resampling helpers shared by the bootstrap intervals: cluster (annotator) resamples drawn in memory-bounded
chunks, and the percentile interval."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

# A chunk of resamples holds at most this many counts, so memory stays ~16 MB whatever the study's size.
CHUNK_CELLS = 2_000_000


def chunk_rows(n_boot: int, width: int) -> Iterator[int]:
    """Sizes of successive chunks of ``n_boot`` resamples, each at most ``CHUNK_CELLS / width`` rows."""
    rows = max(1, CHUNK_CELLS // max(width, 1))
    done = 0
    while done < n_boot:
        k = min(rows, n_boot - done)
        yield k
        done += k


def resample_counts(rng: np.random.Generator, n_units: int, rows: int) -> np.ndarray:
    """(rows, n_units) float array: how many times each unit is drawn in each of ``rows`` resamples of ``n_units``
    units with replacement (the nonparametric bootstrap, Efron & Tibshirani 1993, ch. 6)."""
    draws = rng.integers(0, n_units, size=(rows, n_units))
    # Offsetting row r by r * n_units lets one bincount tally every row at once.
    flat = (draws + np.arange(rows)[:, None] * n_units).reshape(-1)
    return np.bincount(flat, minlength=rows * n_units).reshape(rows, n_units).astype(np.float64)


def bootstrap_ratio(
    numerator: np.ndarray, denominator: np.ndarray, *, n_boot: int, seed: int | np.random.SeedSequence | None
) -> np.ndarray:
    """``n_boot`` bootstrap replicates of Σ numerator / Σ denominator over units (annotators) resampled with
    replacement: e.g. the pooled error rate over the resampled annotators' judgments (numerator = errors,
    denominator = judgments per annotator), or the mean of per-annotator scores (denominator = 1).

    Replicates whose resampled denominator is 0 are NaN."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    start = 0
    for rows in chunk_rows(n_boot, len(numerator)):
        counts = resample_counts(rng, len(numerator), rows)
        den = counts @ denominator
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + rows] = np.where(den > 0, (counts @ numerator) / den, np.nan)
        start += rows
    return out


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile bootstrap interval: the (1 − c)/2 and (1 + c)/2 quantiles of the replicates, ignoring NaN
    (Efron & Tibshirani 1993, ch. 13). ``(nan, nan)`` when no replicate is defined."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)
