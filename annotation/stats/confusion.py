"""The 2×2 table of truth × answer that the accuracy, error and signal-detection numbers are read from."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from annotation.stats.table import Judgments


def ratio(a: int, b: int) -> float:
    """a / b, NaN when b is 0 (an undefined rate is shown as blank, not as 0)."""
    return a / b if b else math.nan


@dataclasses.dataclass(frozen=True)
class Confusion:
    """Counts of real and generated images and of each called real."""

    n_real: int
    n_fake: int
    real_judged_real: int
    fake_judged_real: int

    @property
    def n(self) -> int:
        return self.n_real + self.n_fake

    @property
    def correct(self) -> int:
        return self.real_judged_real + (self.n_fake - self.fake_judged_real)

    @property
    def errors(self) -> int:
        return self.n - self.correct

    @property
    def accuracy(self) -> float:
        return ratio(self.correct, self.n)

    @property
    def fake_error(self) -> float:
        """Generated images judged real / generated images: the fooling rate."""
        return ratio(self.fake_judged_real, self.n_fake)

    @property
    def real_error(self) -> float:
        """Real images judged generated / real images."""
        return ratio(self.n_real - self.real_judged_real, self.n_real)


def confusion(j: Judgments) -> Confusion:
    """The counts over every row of ``j`` (callers drop attention checks first where they should not count)."""
    real = j.truth_real
    return Confusion(
        n_real=int(real.sum()),
        n_fake=int((~real).sum()),
        real_judged_real=int((real & j.answer_real).sum()),
        fake_judged_real=int((~real & j.answer_real).sum()),
    )


def finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values (unknown response times are NaN), NaN without a warning when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def finite_median(values: np.ndarray) -> float:
    """Median of the finite values, NaN without a warning when there are none."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else math.nan
