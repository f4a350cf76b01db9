"""Sensitivity (d′) and criterion (c) of real-vs-generated judgments, from signal detection theory."""

from __future__ import annotations

import dataclasses
import math

from scipy.stats import norm

from annotation.stats.result import Result


@dataclasses.dataclass(frozen=True)
class SignalDetection(Result):
    """d′, c and the corrected hit and false-alarm rates they were computed from."""

    d_prime: float
    criterion: float
    hit_rate: float
    false_alarm_rate: float


def signal_detection(hits: int, n_real: int, false_alarms: int, n_fake: int) -> SignalDetection:
    """d′ and c with "signal" = a real image: a hit is a real image called real, a false alarm a generated image
    called real.

    Rates use the log-linear correction (Hautus 1995): H = (hits + 0.5)/(n_real + 1), F = (false alarms + 0.5)/
    (n_fake + 1), so that rates of 0 or 1 (common with few trials per annotator) give finite z-scores; it biases d′
    less than replacing 0 and 1 by 1/2n. Then, with Φ⁻¹ the standard normal quantile (Macmillan & Creelman 2005)::

        d′ = Φ⁻¹(H) − Φ⁻¹(F)            (0: cannot tell real from generated)
        c  = −(Φ⁻¹(H) + Φ⁻¹(F)) / 2     (> 0: leans towards answering "generated")

    NaN everywhere when there are no real or no generated images.

    References: M. J. Hautus, "Corrections for extreme proportions and their biasing effects on estimated values
    of d′", Behavior Research Methods, Instruments, & Computers 27 (1995) 46–51. N. A. Macmillan & C. D.
    Creelman, Detection Theory: A User's Guide, 2nd ed. (2005).
    """
    if not (0 <= hits <= n_real and 0 <= false_alarms <= n_fake):
        raise ValueError(
            f"need 0 <= hits <= n_real and 0 <= false_alarms <= n_fake, got {hits}/{n_real} and {false_alarms}/{n_fake}"
        )
    if n_real == 0 or n_fake == 0:
        return SignalDetection(math.nan, math.nan, math.nan, math.nan)
    h = (hits + 0.5) / (n_real + 1)
    f = (false_alarms + 0.5) / (n_fake + 1)
    zh, zf = float(norm.ppf(h)), float(norm.ppf(f))
    return SignalDetection(d_prime=zh - zf, criterion=-(zh + zf) / 2, hit_rate=h, false_alarm_rate=f)
