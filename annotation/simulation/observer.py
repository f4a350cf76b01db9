"""A model observer of real-vs-generated images, from equal-variance signal detection theory (Green & Swets 1966;
Macmillan & Creelman 2005), with the departures crowd studies show: a lapse rate, observers who differ, images
that differ, learning from feedback, and a psychometric function of exposure time.

The evidence an image gives an observer is x ~ N(μ, 1): μ = e for a real image and μ = −d′ₚ + e for an image of
generated pool p, where e ~ N(0, σ_image²) is the image's own look (shared by every observer). The observer
answers "real" when x > k, with k = −d̄′/2 + c: c is the criterion of signal detection (0: unbiased; > 0: leans
towards "generated", the sign of ``annotation.stats.signal_detection``) and d̄′ the mean of the pools' d′, so
that with one pool the hit and false-alarm rates are the textbook H = Φ(d′/2 − c), F = Φ(−d′/2 − c).

Each observer draws its own offset δ ~ N(0, σ_d²), added to every pool's d′ (and to d̄′), and its own criterion
c ~ N(c̄, σ_c²). With feedback on, every d′ grows by g·(1 − exp(−n/τ)) after n trials with feedback (Salimans et
al. 2016 saw annotators learn the artifacts from feedback). Under a time limit t every d′ is scaled by the Weibull
psychometric function w(t) = 1 − exp(−(t/s)^β) (Weibull 1951; Wichmann & Hill 2001), whose scale s puts the mean
observer (δ = 0, c = 0, no lapse, no learning) at 75% right, the point the HYPE-time staircase aims at, exactly at
``threshold_ms``. With probability λ (the lapse rate) the observer answers by a coin flip instead. Response times
are log-normal (Ratcliff 1993 on their right skew).

References: D. M. Green & J. A. Swets, Signal Detection Theory and Psychophysics (1966). N. A. Macmillan & C. D.
Creelman, Detection Theory: A User's Guide, 2nd ed. (2005). F. A. Wichmann & N. J. Hill, "The psychometric
function: I", Perception & Psychophysics 63 (2001) 1293–1313. R. Ratcliff, "Methods for dealing with reaction time
outliers", Psychological Bulletin 114 (1993) 510–532. T. Salimans et al., "Improved techniques for training GANs",
NeurIPS 2016.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import norm

# d′ at which an unbiased observer is right 75% of the time: 2·Φ⁻¹(0.75).
D_PRIME_75 = 2 * float(norm.ppf(0.75))


def hit_rate(d_prime: float | np.ndarray, criterion: float | np.ndarray) -> float | np.ndarray:
    """P(answer real | real image) = Φ(d′/2 − c) (Macmillan & Creelman 2005, eq. 2.1–2.2)."""
    return norm.cdf(np.asarray(d_prime) / 2 - criterion)


def false_alarm_rate(d_prime: float | np.ndarray, criterion: float | np.ndarray) -> float | np.ndarray:
    """P(answer real | generated image) = Φ(−d′/2 − c): the fooling rate of an observer without lapses."""
    return norm.cdf(-np.asarray(d_prime) / 2 - criterion)


def proportion_correct(d_prime: float, criterion: float, real_fraction: float = 0.5, lapse: float = 0.0) -> float:
    """Expected accuracy: π·H + (1 − π)·(1 − F) without lapses, mixed with a coin flip at rate λ."""
    h, f = hit_rate(d_prime, criterion), false_alarm_rate(d_prime, criterion)
    attentive = real_fraction * h + (1 - real_fraction) * (1 - f)
    return float((1 - lapse) * attentive + lapse / 2)


def d_prime_for_accuracy(accuracy: float) -> float:
    """The d′ of an unbiased observer right a fraction ``accuracy`` of the time: 2·Φ⁻¹(accuracy)."""
    return 2 * float(norm.ppf(accuracy))


def exposure_weight(exposure_ms: float | np.ndarray | None, scale_ms: float, shape: float) -> float | np.ndarray:
    """The Weibull psychometric factor w(t) = 1 − exp(−(t/s)^β) by which a time limit t scales d′; 1 without a
    limit (None or NaN)."""
    if exposure_ms is None:
        return 1.0
    t = np.asarray(exposure_ms, dtype=np.float64)
    w = 1 - np.exp(-((np.maximum(t, 0) / scale_ms) ** shape))
    return np.where(np.isfinite(t), w, 1.0)


def weibull_scale(threshold_ms: float, d_prime: float, shape: float) -> float:
    """The scale s that puts an observer of sensitivity ``d_prime`` (unbiased) at 75% right at ``threshold_ms``:
    d′·w(t) = D75 ⇔ s = t / (−ln(1 − D75/d′))^(1/β). Needs d′ > D75 = 2Φ⁻¹(0.75) ≈ 1.349: a weaker observer never
    reaches 75%, whatever the exposure."""
    if d_prime <= D_PRIME_75:
        raise ValueError(f"d_prime: must exceed {D_PRIME_75:.3f} to have a 75% threshold, got {d_prime}")
    return threshold_ms / (-math.log(1 - D_PRIME_75 / d_prime)) ** (1 / shape)


@dataclasses.dataclass(frozen=True)
class ObserverModel:
    """The population simulated observers are drawn from. ``d_prime`` maps a generated pool's id to its d′ against
    the real images (pools not listed take ``default_d_prime``); ``score_slope`` adds slope·(s − s̄ₚ) to an image's
    d′ where s is the image's score (e.g. its share of the Inception Score, ``StudyItem.inception_kl``) and s̄ₚ its
    pool's mean."""

    d_prime: Mapping[int, float] = dataclasses.field(default_factory=dict)
    default_d_prime: float = 1.0
    criterion: float = 0.0
    lapse: float = 0.0
    d_prime_sd: float = 0.0
    criterion_sd: float = 0.0
    image_sd: float = 0.0
    score_slope: float = 0.0
    learning_gain: float = 0.0
    learning_trials: float = 50.0
    threshold_ms: float | None = None
    weibull_shape: float = 2.0
    rt_median_ms: float = 900.0
    rt_sigma: float = 0.4

    def __post_init__(self) -> None:
        for name in ("d_prime_sd", "criterion_sd", "image_sd", "rt_sigma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        for name in ("learning_trials", "rt_median_ms", "weibull_shape"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if not 0 <= self.lapse <= 1:
            raise ValueError(f"lapse: must be in [0, 1], got {self.lapse}")
        if self.threshold_ms is not None:
            weibull_scale(self.threshold_ms, self.mean_d_prime, self.weibull_shape)  # refuses an unreachable one

    def pool_d_prime(self, pool: int) -> float:
        return float(self.d_prime.get(pool, self.default_d_prime))

    @property
    def mean_d_prime(self) -> float:
        """d̄′: the mean of the listed pools' d′ (``default_d_prime`` when none is listed)."""
        return float(np.mean(list(self.d_prime.values()))) if self.d_prime else self.default_d_prime

    @property
    def scale_ms(self) -> float:
        """The Weibull scale of the exposure function (infinite, i.e. no effect, without a threshold)."""
        if self.threshold_ms is None:
            return math.inf
        return weibull_scale(self.threshold_ms, self.mean_d_prime, self.weibull_shape)

    def learning(self, feedback_trials: float | np.ndarray) -> float | np.ndarray:
        """What n trials with feedback add to every d′: g·(1 − exp(−n/τ))."""
        return self.learning_gain * (1 - np.exp(-np.asarray(feedback_trials, dtype=np.float64) / self.learning_trials))

    def p_real(
        self,
        *,
        truth_real: np.ndarray | bool,
        pool_d_prime: np.ndarray | float,
        image_effect: np.ndarray | float = 0.0,
        offset: np.ndarray | float = 0.0,
        criterion: np.ndarray | float | None = None,
        feedback_trials: np.ndarray | float = 0.0,
        exposure_ms: np.ndarray | float | None = None,
    ) -> np.ndarray:
        """P(answer "real") of one observer (``offset`` δ, ``criterion`` c) for images of these truths, pools (their
        d′, image score already folded in), looks e, after this many feedback trials, under this exposure (NaN or
        None: unlimited). Vectorised over every argument."""
        c = self.criterion if criterion is None else criterion
        w = exposure_weight(exposure_ms, self.scale_ms, self.weibull_shape) if self.threshold_ms else 1.0
        gain = self.learning(feedback_trials) + offset
        mean_real = np.where(truth_real, 0.0, -(np.asarray(pool_d_prime) + gain) * w) + image_effect
        k = -(self.mean_d_prime + gain) * w / 2 + c
        return (1 - self.lapse) * norm.cdf(mean_real - k) + self.lapse / 2

    def response_ms(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | int:
        """Log-normal response times around ``rt_median_ms``, whole ms, at least 1."""
        rt = np.maximum(1, np.rint(self.rt_median_ms * np.exp(self.rt_sigma * rng.standard_normal(size))))
        return rt.astype(np.int64) if size is not None else int(rt)

    def draw_observer(self, rng: np.random.Generator) -> Observer:
        """One observer of the population: its own d′ offset and criterion."""
        offset = float(rng.normal(0.0, self.d_prime_sd)) if self.d_prime_sd else 0.0
        criterion = float(rng.normal(self.criterion, self.criterion_sd)) if self.criterion_sd else self.criterion
        return Observer(self, offset, criterion)

    def population_p_real(self, pool: int | None, *, feedback_trials: float = 0.0) -> float:
        """P(answer "real") over the whole population of observers and images: for a real image (``pool`` None) or
        one of generated ``pool``, with no time limit and no image score effect. The offset, criterion and image
        look are normal and independent, so x − k is normal with variance 1 + σ_image² + σ_d²/4 + σ_c² (the
        offset's share is halved for a generated image minus the criterion's half: −δ + δ/2)."""
        gain = float(self.learning(feedback_trials))
        sd = math.sqrt(1 + self.image_sd**2 + self.d_prime_sd**2 / 4 + self.criterion_sd**2)
        mean_real = 0.0 if pool is None else -(self.pool_d_prime(pool) + gain)
        mean = mean_real + (self.mean_d_prime + gain) / 2 - self.criterion
        return float((1 - self.lapse) * norm.cdf(mean / sd) + self.lapse / 2)


@dataclasses.dataclass
class Observer:
    """One simulated annotator: the model, its own offset and criterion, and the feedback it has seen so far."""

    model: ObserverModel
    offset: float
    criterion: float
    feedback_seen: int = 0

    def respond(
        self,
        rng: np.random.Generator,
        *,
        truth_real: bool,
        pool_d_prime: float,
        image_effect: float = 0.0,
        exposure_ms: float | None = None,
    ) -> tuple[bool, int]:
        """The answer ("real": True) to one image, and its response time in ms."""
        p = self.model.p_real(
            truth_real=truth_real,
            pool_d_prime=pool_d_prime,
            image_effect=image_effect,
            offset=self.offset,
            criterion=self.criterion,
            feedback_trials=self.feedback_seen,
            exposure_ms=math.nan if exposure_ms is None else exposure_ms,
        )
        return bool(rng.random() < float(p)), int(self.model.response_ms(rng))

    def learn(self) -> None:
        """Feedback was shown after an answer."""
        self.feedback_seen += 1
