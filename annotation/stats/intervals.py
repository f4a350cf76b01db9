"""Score (Wilson) intervals for one proportion and Newcombe's hybrid score interval for a difference of two.

Both treat judgments as independent Bernoulli trials. Judgments by one annotator are correlated, so with few
annotators these intervals are too narrow; the bootstrap intervals over annotators (``hype``, ``arms``) are the
cluster-aware alternative.
"""

from __future__ import annotations

import math

from scipy.stats import norm
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint


def z_value(confidence: float) -> float:
    """The two-sided normal quantile ``Φ⁻¹(1 − (1 − confidence)/2)``: 1.959964 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    return float(norm.ppf(1 - (1 - confidence) / 2))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (Wilson 1927; Newcombe 1998a, method 3).

    With p̂ = successes/n and z = Φ⁻¹(1 − α/2)::

        (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)

    It stays inside [0, 1] and is not degenerate at 0 or n successes, unlike the Wald interval. Returns
    ``(nan, nan)`` when n is 0. Computed by ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    References: E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22
    (1927) 209–212. R. G. Newcombe, "Two-sided confidence intervals for the single proportion: comparison of seven
    methods", Statistics in Medicine 17 (1998) 857–872.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z_value(confidence)  # names the bad argument before statsmodels would
    if n == 0:
        return math.nan, math.nan
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    # The formula gives exactly 0 (or 1) at the edges in exact arithmetic; rounding can miss by 1e-17 and then the
    # interval would not contain p̂.
    low = 0.0 if successes == 0 else max(0.0, float(low))
    high = 1.0 if successes == n else min(1.0, float(high))
    return low, high


def newcombe_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_a − p_b, two independent proportions (Newcombe 1998b, method 10).

    With the Wilson intervals (l_a, u_a) and (l_b, u_b) and d = p̂_a − p̂_b::

        low  = d − √((p̂_a − l_a)² + (u_b − p̂_b)²)
        high = d + √((u_a − p̂_a)² + (p̂_b − l_b)²)

    Newcombe's worked example: 56/70 vs 48/80 gives d = 0.2000 and (0.0524, 0.3339). Returns ``(nan, nan)``
    when either n is 0. Computed by ``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb")``.

    Reference: R. G. Newcombe, "Interval estimation for the difference between independent proportions:
    comparison of eleven methods", Statistics in Medicine 17 (1998) 873–890.
    """
    wilson_interval(successes_a, n_a, confidence)  # names a bad count before statsmodels would
    wilson_interval(successes_b, n_b, confidence)
    if n_a == 0 or n_b == 0:
        return math.nan, math.nan
    low, high = confint_proportions_2indep(
        successes_a, n_a, successes_b, n_b, method="newcomb", compare="diff", alpha=1 - confidence
    )
    return max(-1.0, float(low)), min(1.0, float(high))
