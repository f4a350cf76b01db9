"""What the results page draws, as plain JSON for its charts (annotation/static/annotation/results-charts.js) and
the sentences beside them: the forest plot of error per pool, the learning curve per arm, and the scatter of human
error against each automatic score with its fitted line. Undefined numbers are ``None`` (JSON null), never NaN.

An interval over judgments by a single annotator describes that person, not annotators: an arm of one annotator
gets its points without bands, and the page says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import linregress

from annotation import stats
from annotation.results import CURVE_BIN, Results
from annotation.stats.correlation import MIN_POOLS
from annotation.stats.result import plain
from runs import numbers

CHANCE = 0.5


def _finite(value: float | None) -> float | None:
    """The value, or None where it is undefined (JSON has no NaN)."""
    return plain(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Scatter:
    """One score's scatter: the correlation, whether the page can state one, and why not."""

    name: str
    correlation: stats.Correlation
    fit_slope: float | None
    fit_intercept: float | None

    @property
    def enough_pools(self) -> bool:
        return self.correlation.n_pools >= MIN_POOLS

    @property
    def defined(self) -> bool:
        """Pearson's r is a number: enough pools, and neither the scores nor the errors all equal."""
        return self.enough_pools and math.isfinite(self.correlation.pearson_r)

    @property
    def fit_sentence(self) -> str:
        """The fitted line's slope in words: percentage points of human error per unit of the score. Its intercept
        (the error at a score of 0) lies far outside the pools for most scores, so it is drawn, not said."""
        if self.fit_slope is None:
            return ""
        sign = "+" if self.fit_slope >= 0 else "−"
        points = numbers.number(abs(100 * self.fit_slope), 3)
        return f"{sign}{points} percentage points of human error per unit of score"

    @property
    def has_interval(self) -> bool:
        return all(math.isfinite(v) for v in (*self.correlation.pearson_ci, *self.correlation.spearman_ci))


def fitted_line(correlation: stats.Correlation) -> tuple[float | None, float | None]:
    """Least-squares line of human error on the score (``scipy.stats.linregress``), where a correlation is defined
    (at least ``MIN_POOLS`` pools, scores and errors not all equal); ``(None, None)`` otherwise."""
    if correlation.n_pools < MIN_POOLS or not math.isfinite(correlation.pearson_r):
        return None, None
    fit = linregress([p.score for p in correlation.points], [p.human_error for p in correlation.points])
    return float(fit.slope), float(fit.intercept)


def scatters(results: Results) -> list[Scatter]:
    return [Scatter(name, correlation, *fitted_line(correlation)) for name, correlation in results.correlations]


def overall_condition(results: Results) -> str | None:
    """The rows the forest plot draws: every arm together, or the only arm there is."""
    return next((row.condition for row in results.rows), None)


def single_annotator_arms(results: Results) -> list[str]:
    return [condition for condition, n in results.arm_annotators.items() if n == 1]


def chart_data(results: Results) -> dict[str, Any]:
    names = {sp.pool_id: sp.name for sp in results.pools}
    return {
        "chance": CHANCE,
        "forest": _forest(results),
        "curve": _curve(results),
        "scatters": [_scatter(scatter, results, names) for scatter in scatters(results)],
    }


def _forest(results: Results) -> list[dict[str, Any]]:
    """Fake error of each generated pool and the real error of the real images, each with its Wilson interval."""
    condition = overall_condition(results)
    rows = [row for row in results.rows if row.condition == condition]
    lines = []
    for row in rows:
        a = row.accuracy
        if row.pool_id is None:
            if a.n_real:
                lines.append(
                    _forest_line("real images", "real error", a.real_error, a.real_ci_low, a.real_ci_high, a.n_real)
                )
        elif a.n_fake:
            lines.append(
                _forest_line(
                    row.pool.removesuffix(" vs real"),
                    "fake error",
                    a.fake_error,
                    a.fake_ci_low,
                    a.fake_ci_high,
                    a.n_fake,
                )
            )
    return lines


def _forest_line(label: str, kind: str, value: float, low: float, high: float, n: int) -> dict[str, Any]:
    return {"label": label, "kind": kind, "value": _finite(value), "low": _finite(low), "high": _finite(high), "n": n}


def _curve(results: Results) -> dict[str, Any]:
    arms: dict[str, dict[str, Any]] = {}
    for point in results.curve:
        annotators = results.arm_annotators.get(point.condition, 0)
        arm = arms.setdefault(
            point.condition,
            {"condition": point.condition, "annotators": annotators, "interval": annotators > 1, "points": []},
        )
        arm["points"].append(
            {
                "trial": point.trial_bin_start,
                "n": point.n,
                "accuracy": _finite(point.accuracy),
                "low": _finite(point.ci_low) if arm["interval"] else None,
                "high": _finite(point.ci_high) if arm["interval"] else None,
            }
        )
    return {"bin": CURVE_BIN, "arms": list(arms.values())}


def _scatter(scatter: Scatter, results: Results, names: dict[int | None, str]) -> dict[str, Any]:
    spreads = results.score_spreads.get(scatter.name, {})
    points = []
    for p in sorted(scatter.correlation.points, key=lambda p: p.score):
        spread = spreads.get(p.pool)
        has_spread = spread is not None and math.isfinite(spread) and spread > 0
        # The interval clustered by annotators and images where defined (it holds its 95% in a crowd: the
        # calibration bench), else Wilson's over judgments.
        clustered = _finite(p.clustered_ci_low) is not None and _finite(p.clustered_ci_high) is not None
        low, high = (p.clustered_ci_low, p.clustered_ci_high) if clustered else (p.error_ci_low, p.error_ci_high)
        points.append(
            {
                "pool": names.get(p.pool, str(p.pool)),
                "x": _finite(p.score),
                "x_low": _finite(p.score - spread) if has_spread else None,
                "x_high": _finite(p.score + spread) if has_spread else None,
                "y": _finite(p.human_error),
                "low": _finite(low),
                "high": _finite(high),
                "interval": "annotators and images" if clustered else "Wilson",
                "n": p.n,
            }
        )
    fit = None
    if scatter.fit_slope is not None and points:
        xs = np.array([p["x"] for p in points], dtype=np.float64)
        fit = {
            "slope": scatter.fit_slope,
            "intercept": scatter.fit_intercept,
            "x": [float(xs.min()), float(xs.max())],
        }
    return {"name": scatter.name, "points": points, "fit": fit, "x_spread": bool(spreads)}
