"""Do automatic scores agree with people? Human error per generated pool against a score per pool (e.g. the
Inception Score), with correlations whose intervals carry both the annotators' and the images' uncertainty."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr

from annotation.stats.bootstrap import chunk_rows, percentile_interval, resample_counts
from annotation.stats.clustered import two_way_interval
from annotation.stats.intervals import wilson_interval
from annotation.stats.result import Result
from annotation.stats.table import Judgments

MIN_POOLS = 3


@dataclasses.dataclass(frozen=True)
class PoolPoint(Result):
    """One generated pool: its automatic score and its human error (fraction of its images judged real) with the
    Wilson interval, over ``n`` judgments of ``n_items`` distinct images; ``clustered_ci_low``/``_high``: the
    error's interval clustered by annotators and images (``clustered.two_way_interval``), the one that holds when
    annotators and images differ."""

    pool: int
    score: float
    human_error: float
    error_ci_low: float
    error_ci_high: float
    n: int
    n_items: int
    clustered_ci_low: float = math.nan
    clustered_ci_high: float = math.nan


@dataclasses.dataclass(frozen=True)
class Correlation(Result):
    """Pearson's r and Spearman's ρ between pool scores and human error, with two-way bootstrap intervals.

    ``n_boot_skipped`` counts resamples left out because a pool lost all its judgments; ``n_boot_undefined``
    counts the remaining resamples whose correlation is undefined (all pools' errors equal). The intervals come
    from the other resamples. ``pools_without_judgments`` lists the pools of ``pool_scores`` that had no judgments
    of generated images (real pools, or pools not yet annotated); they are not among ``points``.

    With few pools and a correlation near ±1 the replicates pile up against the bound, and the percentile interval
    can end short of the point estimate (e.g. r = 0.998 with interval (0.82, 0.996)); that is the bootstrap
    saying the estimate sits at the edge of what the data support, not an error.
    """

    pearson_r: float
    pearson_ci: tuple[float, float]
    spearman_rho: float
    spearman_ci: tuple[float, float]
    n_pools: int
    points: list[PoolPoint]
    pearson_p: float = math.nan
    spearman_p: float = math.nan
    kendall_tau: float = math.nan
    kendall_p: float = math.nan
    # Why the correlations are undefined, in words for the page; "" when they are defined.
    undefined_reason: str = ""
    n_boot: int = 0
    n_boot_skipped: int = 0
    n_boot_undefined: int = 0
    confidence: float = 0.95
    pools_without_judgments: list[int] = dataclasses.field(default_factory=list)


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` (P,) with each row of ``y`` (B, P); NaN for constant rows."""
    xc = x - x.mean()
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (yc @ xc) / np.sqrt((xc @ xc) * (yc * yc).sum(axis=1))
    # Exact equality, not a tolerance: equal rates computed from different counts (1/2, 2/4) are equal floats.
    r[np.ptp(y, axis=1) == 0] = np.nan
    return np.clip(r, -1.0, 1.0)


def human_vs_scores(
    j: Judgments,
    pool_scores: Mapping[int, float],
    *,
    n_boot: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> Correlation:
    """Correlate each generated pool's human error with its automatic score.

    For a generated pool, human error = the fraction of its judgments that called a generated image real (the
    fooling rate, the pool's ``fake_error``); only judgments of generated images (``truth_real`` False; attention
    checks excluded) in pools listed in ``pool_scores`` count. Point error bars are Wilson intervals.

    ``pearson_r`` and ``spearman_rho`` (with their p-values) are ``scipy.stats.pearsonr`` and
    ``scipy.stats.spearmanr`` over the pools, and the rank agreement also as Kendall's τ-b
    (``scipy.stats.kendalltau``, robust to ties between pools); they need at least 3 pools and non-constant
    scores and errors, else NaN, and ``undefined_reason`` says which is missing.

    The intervals come from a two-way bootstrap (McCullagh 2000; Owen 2007, "The pigeonhole bootstrap", Ann. Appl.
    Stat. 1): each of ``n_boot`` resamples draws annotators with replacement and, independently, images with
    replacement within each pool (so every pool keeps its number of images); a judgment's weight is the number of
    times its annotator was drawn times the number of times its image was drawn. Each pool's error is recomputed
    with those weights, then the correlations; the interval is the percentile interval. Resampling only
    judgments would ignore that one annotator's answers, and one image's answers, are correlated; resampling
    only annotators would ignore which images the pool happened to contain. The scores are held fixed.
    Generator: ``numpy.random.default_rng(seed)``.
    """
    scored = j.scored()
    listed = np.array(sorted(int(p) for p in pool_scores), dtype=np.int64)
    fake = scored.subset(~scored.truth_real & np.isin(scored.pool, listed))
    order = np.argsort(fake.pool, kind="stable")  # rows grouped by pool, for reduceat
    fake = fake.subset(order)
    pools, row_starts = np.unique(fake.pool, return_index=True)
    without = [int(p) for p in listed if p not in set(pools.tolist())]

    judged_real = fake.answer_real.astype(np.float64)
    n_per_pool = np.diff(np.append(row_starts, len(fake)))
    real_per_pool = np.add.reduceat(judged_real, row_starts) if len(fake) else np.zeros(0)
    x = np.array([float(pool_scores[int(p)]) for p in pools])
    y = real_per_pool / np.maximum(n_per_pool, 1)

    points = []
    for i, pool in enumerate(pools):
        low, high = wilson_interval(int(real_per_pool[i]), int(n_per_pool[i]), confidence)
        rows = slice(row_starts[i], row_starts[i] + n_per_pool[i])
        items = len(np.unique(fake.item[rows]))
        clustered = two_way_interval(fake.subset(np.arange(len(fake))[rows]), judged_real[rows], confidence)
        points.append(PoolPoint(int(pool), float(x[i]), float(y[i]), low, high, int(n_per_pool[i]), items, *clustered))

    result = dict(
        pearson_r=math.nan,
        pearson_ci=(math.nan, math.nan),
        spearman_rho=math.nan,
        spearman_ci=(math.nan, math.nan),
        n_pools=len(pools),
        points=points,
        n_boot=n_boot,
        confidence=confidence,
        pools_without_judgments=without,
    )
    if len(pools) < MIN_POOLS:
        result["undefined_reason"] = (
            f"{len(pools)} generated pool{'' if len(pools) == 1 else 's'} with judgments: a correlation needs at "
            f"least {MIN_POOLS} (a sweep of more checkpoints gives more)"
        )
        return Correlation(**result)
    if np.ptp(x) == 0:
        result["undefined_reason"] = "every pool has the same score: nothing to correlate with"
        return Correlation(**result)
    if np.ptp(y) == 0:
        result["undefined_reason"] = "every pool has the same human error: no correlation at this sample"
    else:
        kendall = kendalltau(x, y)
        pearson = pearsonr(x, y)
        spearman = spearmanr(x, y)
        result.update(
            pearson_r=float(pearson.statistic),
            pearson_p=float(pearson.pvalue),
            spearman_rho=float(spearman.statistic),
            spearman_p=float(spearman.pvalue),
            kendall_tau=float(kendall.statistic),
            kendall_p=float(kendall.pvalue),
        )
    if n_boot > 0:
        r, rho, skipped = _two_way_bootstrap(fake, row_starts, judged_real, n_boot, seed, x)
        undefined = int(np.isnan(r).sum())
        result.update(
            pearson_ci=percentile_interval(r, confidence),
            spearman_ci=percentile_interval(rho, confidence),
            n_boot_skipped=skipped,
            n_boot_undefined=undefined,
        )
    return Correlation(**result)


def _two_way_bootstrap(
    fake: Judgments,
    row_starts: np.ndarray,
    judged_real: np.ndarray,
    n_boot: int,
    seed: int | None,
    x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Replicates of Pearson's r and Spearman's ρ (NaN where undefined) over the resamples in which every pool kept
    a judgment, and the number of resamples skipped. ``fake``'s rows are grouped by pool, starting at
    ``row_starts``."""
    rng = np.random.default_rng(seed)
    _, annotator_code = np.unique(fake.annotator, return_inverse=True)
    n_annotators = int(annotator_code.max()) + 1
    pool_code = np.repeat(np.arange(len(row_starts)), np.diff(np.append(row_starts, len(fake))))
    # An image is a (pool, item) unit; np.unique sorts by pool first, so each pool's images are contiguous.
    units, unit_code = np.unique(np.stack([pool_code, fake.item], axis=1), axis=0, return_inverse=True)
    unit_code = unit_code.reshape(-1)
    unit_pool = units[:, 0]
    unit_start = np.searchsorted(unit_pool, unit_pool, side="left")
    unit_size = np.searchsorted(unit_pool, unit_pool, side="right") - unit_start
    n_units = len(units)
    x_ranks = rankdata(x)

    r_all, rho_all, skipped = [], [], 0
    for rows in chunk_rows(n_boot, max(len(fake), n_units, n_annotators)):
        annotator_counts = resample_counts(rng, n_annotators, rows)
        # Each image slot is refilled from its own pool's images: floor(u * size) picks one uniformly.
        draws = unit_start + np.floor(rng.random((rows, n_units)) * unit_size).astype(np.int64)
        flat = (draws + np.arange(rows)[:, None] * n_units).reshape(-1)
        unit_counts = np.bincount(flat, minlength=rows * n_units).reshape(rows, n_units).astype(np.float64)
        weight = annotator_counts[:, annotator_code] * unit_counts[:, unit_code]
        den = np.add.reduceat(weight, row_starts, axis=1)
        num = np.add.reduceat(weight * judged_real, row_starts, axis=1)
        kept = (den > 0).all(axis=1)
        skipped += int((~kept).sum())
        errors = num[kept] / den[kept]
        r_all.append(_rowwise_pearson(x, errors))
        rho_all.append(_rowwise_pearson(x_ranks, rankdata(errors, axis=1)))
    return np.concatenate(r_all), np.concatenate(rho_all), skipped
