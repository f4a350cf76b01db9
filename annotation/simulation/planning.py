"""Planning a study before paying a crowd: the fewest annotators (and which items per assignment) that meet a goal,
found by simulating the study many times with the model observer and scoring each replicate with the results
page's own statistics.

Goals:

- ``halfwidth``: the 95% interval on human error is at most ``target`` wide on each side, on average over
  replicates: overall (HYPE∞ = 1 − accuracy, the interval clustered by annotators and images of
  ``stats.two_way_accuracy_interval``) or per pool (each generated pool's fake error with the clustered interval
  the results page shows, ``clustered.two_way_interval``; the widest pool counts);
- ``pools``: power (the share of replicates whose 95% interval of the difference excludes 0) to detect a
  difference of ``target`` in fake error between two generated pools: the same two-way cluster-robust interval,
  applied to the difference err_a − err_b through its influence per judgment (n/n_a·(y − err_a) for pool a,
  −n/n_b·(y − err_b) for pool b: the delta method);
- ``arms``: power to detect a difference of ``target`` in accuracy between the feedback arms, with the interval
  of ``stats.compare_arms`` that resamples annotators within each arm.

For the power goals the assumed effect is put into the model: pool b's d′ is lowered until its population fake
error exceeds pool a's by ``target``; for the arms, the learning gain is raised until the feedback arm's
population accuracy exceeds the other's by ``target`` (``replicate.population_truth``).

Annotator counts are scanned upwards over a fixed ladder, each candidate with the same R seeds (common random
numbers), and the first that meets the goal is returned: a stricter goal can therefore never return fewer
annotators. R is capped (``MAX_REPLICATES``) to keep a web request within seconds; the estimate's Monte Carlo
standard error is reported with it. Each annotator does one assignment, so the cost is annotators × price.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import brentq

from annotation import stats
from annotation.simulation.observer import ObserverModel
from annotation.simulation.replicate import ARMS, Design, population_truth, simulate_judgments
from annotation.stats.clustered import two_way_interval
from annotation.stats.table import Judgments

GOALS = ("halfwidth", "pools", "arms")
SCOPES = ("overall", "per_pool")
MAX_REPLICATES = 200
MAX_ANNOTATORS = 1000
POWER = 0.8
ARM_BOOT = 200
# Candidate annotator counts; even numbers, so a randomised design has equal arms. Clustered intervals under-cover
# with few clusters (Cameron, Gelbach & Miller 2008, "Bootstrap-based improvements for inference with clustered
# errors", Rev. Econ. Stat. 90), so no plan rests on fewer than MIN_PER_GROUP annotators in a group (arm).
MIN_PER_GROUP = 10
LADDER = (10, 12, 16, 20, 24, 30, 40, 50, 60, 80, 100, 120, 160, 200, 250, 300, 400, 500, 600, 800, 1000)
# Stated prior for an unpiloted study: a weak-to-moderate observer (HYPE-scale studies see 55–75% right), who
# differ from each other and see images that differ, with few lapses.
PRIOR = {"d_prime": 0.8, "d_prime_sd": 0.5, "criterion": 0.0, "criterion_sd": 0.3, "image_sd": 0.5, "lapse": 0.02}


@dataclasses.dataclass(frozen=True)
class Goal:
    kind: str
    target: float
    scope: str = "overall"
    pools: tuple[int, int] | None = None  # for ``pools``: (a, b), b the one assumed to fool more

    def __post_init__(self) -> None:
        if self.kind not in GOALS:
            raise ValueError(f"goal: one of {', '.join(GOALS)}, got {self.kind!r}")
        if not (math.isfinite(self.target) and 0 < self.target < 1):
            raise ValueError(f"target: a fraction in (0, 1) (0.05 = 5 points), got {self.target}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope: one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.kind == "pools" and (self.pools is None or len(set(self.pools)) != 2):
            raise ValueError("pools: two different generated pools to compare")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One simulated design: its annotators and items per assignment, the goal's statistic (mean half-width, or
    power) and its Monte Carlo standard error over ``replicates``."""

    annotators: int
    items_per_assignment: int
    value: float
    mc_error: float
    replicates: int
    met: bool


@dataclasses.dataclass(frozen=True)
class Plan:
    goal: Goal
    recommended: Candidate | None  # None: no design up to MAX_ANNOTATORS meets the goal
    previous: Candidate | None  # the next smaller annotator count tried with the same items (it misses)
    judgments_per_image: float  # expected, on the images of the most judged pool (real or generated)
    total_judgments: int
    cost: float
    price: float
    model: ObserverModel
    design: Design

    @property
    def judgments_wanted(self) -> int:
        """The study's "judgments wanted per image" this plan needs: a study stops serving an image once it has
        that many, so a smaller setting fills the study before the recommended annotators have all come."""
        return math.ceil(self.judgments_per_image - 1e-9)


def observer_model(pools: Sequence[int], **params: float) -> ObserverModel:
    """The prior of ``PRIOR`` with ``params`` overriding it; every pool the same d′."""
    unknown = set(params) - set(PRIOR)
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: not an observer parameter (one of {', '.join(PRIOR)})")
    p = {**PRIOR, **params}
    if not p["d_prime"] >= 0:
        raise ValueError(f"d_prime: must not be negative, got {p['d_prime']}")
    return ObserverModel(
        d_prime=dict.fromkeys(pools, p["d_prime"]), criterion=p["criterion"], lapse=p["lapse"],
        d_prime_sd=p["d_prime_sd"], criterion_sd=p["criterion_sd"], image_sd=p["image_sd"],
    )  # fmt: skip


def with_effect(model: ObserverModel, design: Design, goal: Goal) -> ObserverModel:
    """The model with the goal's assumed difference built in (unchanged for a half-width goal)."""
    if goal.kind == "pools":
        a, b = goal.pools
        if a not in design.pools or b not in design.pools:
            raise ValueError(f"pools: {a} and {b} must both be generated pools of the study")

        def gap(d_b: float) -> float:
            m = dataclasses.replace(model, d_prime={**model.d_prime, b: d_b})
            return m.population_p_real(b) - m.population_p_real(a) - goal.target

        d_a = model.pool_d_prime(a)
        if gap(-10.0) < 0:
            raise ValueError(f"target: no pool can fool {goal.target:.0%} more than one of d′ {d_a}")
        return dataclasses.replace(model, d_prime={**model.d_prime, b: brentq(gap, -10.0, d_a)})
    if goal.kind == "arms":
        if design.feedback != "randomised":
            raise ValueError("feedback: the arms goal needs a study that randomises annotators between feedback arms")

        def arm_gap(gain: float) -> float:
            t = population_truth(dataclasses.replace(model, learning_gain=gain), design)
            return t.accuracy["feedback"] - t.accuracy["no_feedback"] - goal.target

        if arm_gap(20.0) < 0:
            raise ValueError(f"target: feedback cannot raise accuracy by {goal.target:.0%} under this model")
        return dataclasses.replace(model, learning_gain=brentq(arm_gap, 0.0, 20.0))
    return model


def _halfwidth(table: Judgments, scope: str) -> float:
    if scope == "overall":
        low, high = stats.two_way_accuracy_interval(table)
        return (high - low) / 2
    scored = table.scored()
    widths = []
    for pool in np.unique(scored.pool[~scored.truth_real]):
        rows = ~scored.truth_real & (scored.pool == pool)
        low, high = two_way_interval(scored.subset(rows), scored.answer_real[rows])
        widths.append((high - low) / 2)
    return max(widths) if widths else math.nan


def _pools_detected(table: Judgments, a: int, b: int) -> float:
    scored = table.scored()
    rows = ~scored.truth_real & np.isin(scored.pool, [a, b])
    part = scored.subset(rows)
    n, in_a = len(part), part.pool == a
    n_a, n_b = int(in_a.sum()), int((~in_a).sum())
    if not (n_a and n_b):
        return 0.0
    y = part.answer_real.astype(np.float64)
    err_a, err_b = y[in_a].mean(), y[~in_a].mean()
    # The difference's linearisation (its influence per judgment), shifted so that its mean is the difference:
    # two_way_interval then sums each cluster's influence, the delta method for a difference of two means.
    influence = np.where(in_a, n / n_a * (y - err_a), -n / n_b * (y - err_b))
    low, high = two_way_interval(part, influence + (err_a - err_b))
    return float(low > 0 or high < 0)


def _arms_detected(table: Judgments, seed: int) -> float:
    found = stats.compare_arms(table, n_boot=ARM_BOOT, seed=seed)
    return float(found.cluster_ci_low > 0 or found.cluster_ci_high < 0)


def _smallest(design: Design, goal: Goal) -> int:
    groups = len(ARMS[design.feedback]) if goal.kind == "arms" else 1
    return MIN_PER_GROUP * groups


def _statistic(goal: Goal) -> Callable[[Judgments, int], float]:
    if goal.kind == "halfwidth":
        return lambda table, seed: _halfwidth(table, goal.scope)
    if goal.kind == "pools":
        return lambda table, seed: _pools_detected(table, *goal.pools)
    return _arms_detected


def simulate(model: ObserverModel, design: Design, goal: Goal, replicates: int, seed: int) -> Candidate:
    """The goal's statistic over ``replicates`` studies of ``design`` drawn with seeds seed·10⁶ + r."""
    statistic = _statistic(goal)
    values = np.array(
        [
            statistic(simulate_judgments(model, design, np.random.default_rng(seed * 1_000_000 + r)), r)
            for r in range(replicates)
        ]
    )
    if goal.kind == "halfwidth":
        value, met = float(np.nanmean(values)), bool(np.nanmean(values) <= goal.target)
        error = float(np.nanstd(values, ddof=1) / math.sqrt(replicates)) if replicates > 1 else math.nan
    else:
        value = float(values.mean())
        error, met = math.sqrt(value * (1 - value) / replicates), value >= POWER
    return Candidate(design.annotators, design.items_per_assignment, value, error, replicates, met)


def plan(
    design: Design,
    goal: Goal,
    *,
    price: float,
    model: ObserverModel | None = None,
    items_options: Sequence[int] | None = None,
    replicates: int = 100,
    seed: int = 0,
    max_annotators: int = MAX_ANNOTATORS,
) -> Plan:
    """The cheapest design meeting ``goal``: for each items per assignment in ``items_options`` (default: the
    design's), the fewest annotators on ``LADDER`` meeting it; among those, the fewest judgments in all (then the
    fewest annotators). ``design.annotators`` is ignored."""
    if not (math.isfinite(price) and price >= 0):
        raise ValueError(f"price: a non-negative amount per assignment, got {price}")
    if not 2 <= replicates <= MAX_REPLICATES:
        raise ValueError(f"replicates: between 2 and {MAX_REPLICATES} (a web request's budget), got {replicates}")
    if not MIN_PER_GROUP <= max_annotators <= MAX_ANNOTATORS:
        raise ValueError(f"max_annotators: between {MIN_PER_GROUP} and {MAX_ANNOTATORS}, got {max_annotators}")
    options = sorted(set(items_options or [design.items_per_assignment]))
    for items in options:
        if not 1 <= items <= design.images_per_pool:
            raise ValueError(f"items_per_assignment: between 1 and the images per pool ({design.images_per_pool})")
    base = model or observer_model(list(design.pools))
    assumed = with_effect(base, design, goal)
    best: tuple[Candidate, Candidate | None] | None = None
    for items in options:
        previous = None
        for n in (n for n in LADDER if _smallest(design, goal) <= n <= max_annotators):
            trial = dataclasses.replace(design, annotators=n, items_per_assignment=items)
            found = simulate(assumed, trial, goal, replicates, seed)
            if found.met:
                cost = (n * items, n)
                if best is None or cost < (best[0].annotators * best[0].items_per_assignment, best[0].annotators):
                    best = (found, previous)
                break
            previous = found
    if best is None:
        return Plan(goal, None, None, 0.0, 0, math.nan, price, assumed, design)
    found, previous = best
    chosen = dataclasses.replace(design, annotators=found.annotators, items_per_assignment=found.items_per_assignment)
    total = found.annotators * found.items_per_assignment
    _, weights = design.weights
    busiest = max(design.real_fraction, (1 - design.real_fraction) * float(weights.max()))
    per_image = total * busiest / design.images_per_pool
    return Plan(goal, found, previous, per_image, total, found.annotators * price, price, assumed, chosen)
