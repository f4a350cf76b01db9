"""Whole studies of simulated observers without a server: judgment tables drawn from an :class:`ObserverModel`
over a study design, and the population truths their statistics estimate. The calibration benchmark draws many
such studies and runs the results page's statistics on each; the HTTP driver runs the same model through the
real annotator flow.

The draw follows the study's own rules where they matter to the statistics: each place of a sequence is real
with the study's real share and otherwise from a generated pool by weight, independently (the draws of a study
with feedback); an annotator never sees an image twice; annotators alternate between the feedback arms when
the design randomises them; under HYPE-time the exposure of each trial follows ``stats.staircase``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from annotation.simulation.observer import ObserverModel
from annotation.stats import staircase
from annotation.stats.table import Judgments

REAL_POOL = 0
ARMS = {"none": (False,), "each": (True,), "randomised": (True, False)}


@dataclasses.dataclass(frozen=True)
class Design:
    """A study as the simulation needs it: generated pools (id → weight among them; 0 is the real pool's id),
    images per pool, annotators, items per assignment, the real share, the feedback condition (``"none"``,
    ``"each"`` or ``"randomised"``), whether exposures follow the HYPE-time staircase, and the trials per block
    (None: one block)."""

    pools: Mapping[int, float]
    images_per_pool: int = 100
    annotators: int = 30
    items_per_assignment: int = 100
    real_fraction: float = 0.5
    feedback: str = "none"
    timed: bool = False
    block_size: int | None = None

    def __post_init__(self) -> None:
        if self.feedback not in ARMS:
            raise ValueError(f"feedback: one of {sorted(ARMS)}, got {self.feedback!r}")
        if REAL_POOL in self.pools or not self.pools:
            raise ValueError(f"pools: one or more generated pools, ids other than {REAL_POOL}")
        if self.annotators < 1 or self.items_per_assignment < 1:
            raise ValueError("annotators and items_per_assignment: at least 1")
        if self.items_per_assignment > self.images_per_pool:
            raise ValueError("items_per_assignment: may not exceed images_per_pool (no image is shown twice)")

    @property
    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array(sorted(self.pools), dtype=np.int64)
        w = np.array([self.pools[p] for p in ids], dtype=np.float64)
        return ids, w / w.sum()


def simulate_judgments(model: ObserverModel, design: Design, rng: np.random.Generator) -> Judgments:
    """One study's test judgments: new images (their looks drawn from the model), new observers, new sequences."""
    ids, weights = design.weights
    all_pools = np.sort(np.concatenate([[REAL_POOL], ids]))
    looks = rng.normal(0.0, model.image_sd, (len(all_pools), design.images_per_pool))
    n, t = design.annotators, design.items_per_assignment
    arms = ARMS[design.feedback]
    feedback = np.array([arms[i % len(arms)] for i in range(n)])
    observers = [model.draw_observer(rng) for _ in range(n)]
    offset = np.array([o.offset for o in observers])[:, None]
    criterion = np.array([o.criterion for o in observers])[:, None]

    pool = np.where(rng.random((n, t)) < design.real_fraction, REAL_POOL, rng.choice(ids, size=(n, t), p=weights))
    image = np.empty((n, t), dtype=np.int64)
    for a in range(n):
        for p in np.unique(pool[a]):
            places = pool[a] == p
            image[a, places] = rng.choice(design.images_per_pool, size=int(places.sum()), replace=False)
    truth = pool == REAL_POOL
    pool_d = np.vectorize(model.pool_d_prime, otypes=[np.float64])(pool)
    look = looks[np.searchsorted(all_pools, pool), image]
    trials = np.broadcast_to(np.arange(t), (n, t))
    learned = np.where(feedback[:, None], trials, 0)

    answers = np.empty((n, t), dtype=bool)
    exposure = np.full((n, t), np.nan)
    current = np.full(n, staircase.START_MS, dtype=np.float64)
    for i in range(t):
        if design.timed:
            exposure[:, i] = current
        p = model.p_real(
            truth_real=truth[:, i],
            pool_d_prime=pool_d[:, i],
            image_effect=look[:, i],
            offset=offset[:, 0],
            criterion=criterion[:, 0],
            feedback_trials=learned[:, i],
            exposure_ms=exposure[:, i],
        )
        answers[:, i] = rng.random(n) < p
        if design.timed:
            right = answers[:, i] == truth[:, i]
            step = np.where(right, -staircase.DOWN_MS, staircase.UP_MS)
            current = np.clip(current + step, staircase.MIN_MS, staircase.MAX_MS)
    return Judgments(
        annotator=np.repeat(np.arange(n), t),
        item=(pool * design.images_per_pool + image).reshape(-1),
        pool=pool.reshape(-1),
        truth_real=truth.reshape(-1),
        answer_real=answers.reshape(-1),
        response_ms=np.asarray(model.response_ms(rng, n * t), dtype=np.float64),
        trial=trials.reshape(-1),
        condition=np.repeat(np.where(feedback, "feedback", "no_feedback"), t),
        block=(trials // (design.block_size or t)).reshape(-1),
        exposure_ms=exposure.reshape(-1),
        attention=np.zeros(n * t, dtype=bool),
    )


@dataclasses.dataclass(frozen=True)
class Truth:
    """What the statistics estimate, over the whole population of observers and images (no time limit):
    per arm (``"feedback"``, ``"no_feedback"``) and over both arms (``"all"``, annotators split as the design
    splits them), the expected accuracy, real error and each generated pool's fake error; the fake error over
    all generated images; d′ and c of the pooled hit and false-alarm rates."""

    accuracy: dict[str, float]
    real_error: dict[str, float]
    fake_error: dict[str, dict[int, float]]
    fake_error_all: dict[str, float]
    d_prime: float
    criterion: float


def population_truth(model: ObserverModel, design: Design) -> Truth:
    """The truths of :class:`Truth`: for trial i the feedback arm has seen i trials with feedback, the other
    none; each arm's numbers average over the trials of an assignment (every trial holds one judgment per
    annotator), and over the arms in proportion to their annotators."""
    from scipy.stats import norm

    ids, weights = design.weights
    trials = np.arange(design.items_per_assignment)
    accuracy, real_error, fake_error, fake_all = {}, {}, {}, {}
    for condition, with_feedback in (("feedback", True), ("no_feedback", False)):
        learned = trials if with_feedback else np.zeros_like(trials)
        p_real = np.array([model.population_p_real(None, feedback_trials=n) for n in learned]).mean()
        p_fake = {int(p): np.mean([model.population_p_real(int(p), feedback_trials=n) for n in learned]) for p in ids}
        real_error[condition] = float(1 - p_real)
        fake_error[condition] = {p: float(v) for p, v in p_fake.items()}
        fake_all[condition] = float(sum(w * p_fake[int(p)] for p, w in zip(ids, weights, strict=True)))
        pi = design.real_fraction
        accuracy[condition] = float(pi * p_real + (1 - pi) * (1 - fake_all[condition]))
    arms = ARMS[design.feedback]
    share = {"feedback": 0.0, "no_feedback": 0.0}
    for i in range(design.annotators):
        share["feedback" if arms[i % len(arms)] else "no_feedback"] += 1 / design.annotators
    for table in (accuracy, real_error, fake_all):
        table["all"] = sum(share[c] * table[c] for c in share)
    fake_error["all"] = {int(p): sum(share[c] * fake_error[c][int(p)] for c in share) for p in ids}
    hit, false_alarm = 1 - real_error["all"], fake_all["all"]
    zh, zf = float(norm.ppf(hit)), float(norm.ppf(false_alarm))
    return Truth(accuracy, real_error, fake_error, fake_all, zh - zf, -(zh + zf) / 2)
