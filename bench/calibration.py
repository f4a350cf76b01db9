"""Calibration of the results page: do its 95% intervals cover the truth 95% of the time?

R replicate studies are drawn from simulated observers with known truth (annotation.simulation: signal detection
with lapses, observers who differ in d′ and criterion, images that differ in how real they look, learning from
feedback), and each is scored with the same pure statistics functions the results page calls (annotation.stats:
accuracy_summary with its Wilson interval, two_way_accuracy_interval, hype_infinity, compare_arms,
human_vs_scores, hype_time_score). Replicates are judgment tables drawn by annotation.simulation.replicate from the
same observer model the HTTP driver takes through the site; no HTTP is involved here, so that hundreds of studies
take minutes (tests/annotation/test_simulated_observers.py shows the HTTP flow reaches the same accuracy).

For each estimate it prints the truth, the mean estimate, the bias, and the share of replicates whose 95% interval
holds the truth, with that share's own 95% Wilson interval (the Monte Carlo error of R replicates). Scenarios:

- ``crowd``: 30 annotators (randomised between feedback and none), 100 images each of 5 generated pools and real
  images; d′ 0.4–2.0 by pool, c = 0.1, 5% lapses, σ(d′) = 0.5 and σ(c) = 0.3 between observers, σ = 0.5 between
  images, feedback adds up to 0.4 to d′;
- ``ideal``: the same design, but identical observers and images and no lapses: the Wilson interval's assumption
  (independent judgments) holds;
- ``hype_time``: 20 annotators, 3 blocks of 150 images with feedback, exposure threshold 300 ms (75% right for the
  mean observer): HYPE-time's estimate and interval against that threshold, and against its population value
  (what the modal exposure converges to, from one study of ``--population`` observers, 1,000 by default).

    .venv/bin/python bench/calibration.py                      # R = 200 per scenario, 2 processes
    .venv/bin/python bench/calibration.py --replicates 500 --jobs 2
    .venv/bin/python bench/calibration.py --quick              # a few replicates: the test suite runs this
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import multiprocessing
import os
import time
from collections.abc import Callable

import numpy as np
from scipy.stats import pearsonr, spearmanr

from annotation import stats
from annotation.simulation.observer import ObserverModel
from annotation.simulation.replicate import Design, population_truth, simulate_judgments

POOL_D_PRIME = {1: 0.4, 2: 0.8, 3: 1.2, 4: 1.6, 5: 2.0}
# Pool Inception Scores: higher for the harder pools, not in exactly their order, so the true ρ is not ±1.
POOL_IS = {1: 7.5, 2: 8.0, 3: 5.0, 4: 5.4, 5: 3.0}
THRESHOLD_MS = 300.0
HYPE_TIME = (
    "HYPE-time (ms) against the threshold, bootstrap over annotators",
    "HYPE-time (ms) against its population value, bootstrap over annotators",
)

SCENARIOS: dict[str, tuple[ObserverModel, Design]] = {
    "crowd": (
        ObserverModel(
            d_prime=POOL_D_PRIME, criterion=0.1, lapse=0.05, d_prime_sd=0.5, criterion_sd=0.3, image_sd=0.5,
            learning_gain=0.4, learning_trials=30,
        ),
        Design(pools=dict.fromkeys(POOL_D_PRIME, 1.0), annotators=30, items_per_assignment=100, feedback="randomised"),
    ),
    "ideal": (
        ObserverModel(d_prime=POOL_D_PRIME, criterion=0.1, learning_gain=0.4, learning_trials=30),
        Design(pools=dict.fromkeys(POOL_D_PRIME, 1.0), annotators=30, items_per_assignment=100, feedback="randomised"),
    ),
    "hype_time": (
        ObserverModel(default_d_prime=3.0, threshold_ms=THRESHOLD_MS, d_prime_sd=0.3, criterion_sd=0.2),
        Design(
            pools={1: 1.0}, annotators=20, items_per_assignment=450, images_per_pool=450, feedback="each",
            timed=True, block_size=150,
        ),
    ),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Estimate:
    """One replicate's value of a statistic and its interval (NaN: the page shows none)."""

    value: float
    low: float = math.nan
    high: float = math.nan


@functools.cache
def population_hype_time(annotators: int) -> float:
    """What HYPE-time estimates in the ``hype_time`` scenario: the mean over a population of observers of their
    mean modal exposure, from one study of ``annotators`` observers (1,000: a standard error near 1 ms). The
    staircase's mode is not exactly the psychometric threshold (75% right): this is the estimand, the threshold
    the target."""
    model, design = SCENARIOS["hype_time"]
    big = dataclasses.replace(design, annotators=annotators)
    return stats.hype_time_score(simulate_judgments(model, big, np.random.default_rng(2**32 - 1)), n_boot=0).score


def truths(scenario: str, population: int) -> dict[str, float]:
    model, design = SCENARIOS[scenario]
    if design.timed:
        return dict(zip(HYPE_TIME, (THRESHOLD_MS, population_hype_time(population)), strict=True))
    t = population_truth(model, design)
    errors = [t.fake_error["all"][p] for p in sorted(POOL_IS)]
    scores = [POOL_IS[p] for p in sorted(POOL_IS)]
    difference = t.accuracy["feedback"] - t.accuracy["no_feedback"]
    return {
        "accuracy, Wilson": t.accuracy["all"],
        "accuracy, two-way cluster-robust (annotators × images)": t.accuracy["all"],
        "fake error of a pool, Wilson (each pool)": float(np.mean(errors)),
        "fake error of a pool, two-way cluster-robust (each pool)": float(np.mean(errors)),
        "fake error (all generated)": t.fake_error_all["all"],
        "real error": t.real_error["all"],
        "d′": t.d_prime,
        "HYPE∞, bootstrap over annotators": 1 - t.accuracy["all"],
        "feedback − no feedback, Newcombe": difference,
        "feedback − no feedback, bootstrap over annotators": difference,
        "Pearson r (error vs IS), two-way bootstrap": float(pearsonr(scores, errors).statistic),
        "Spearman ρ (error vs IS), two-way bootstrap": float(spearmanr(scores, errors).statistic),
    }


def replicate(args: tuple[str, int, int]) -> dict[str, Estimate | list[tuple[Estimate, float]]]:
    """One study of ``scenario`` drawn with ``seed``, scored as the results page scores it."""
    scenario, seed, n_boot = args
    model, design = SCENARIOS[scenario]
    table = simulate_judgments(model, design, np.random.default_rng(seed))
    if design.timed:
        score = stats.hype_time_score(table, n_boot=n_boot, seed=seed)
        found = Estimate(score.score, score.ci_low, score.ci_high)
        return dict.fromkeys(HYPE_TIME, found)
    summary = stats.accuracy_summary(table)
    two_way = stats.two_way_accuracy_interval(table)
    hype = stats.hype_infinity(table, n_boot=n_boot, seed=seed)
    arms = stats.compare_arms(table, n_boot=n_boot, seed=seed)
    correlation = stats.human_vs_scores(table, POOL_IS, n_boot=n_boot, seed=seed)
    t = population_truth(model, design)
    intervals = {
        "fake error of a pool, Wilson (each pool)": lambda p: (p.error_ci_low, p.error_ci_high),
        "fake error of a pool, two-way cluster-robust (each pool)": lambda p: (p.clustered_ci_low, p.clustered_ci_high),
    }
    per_pool = {
        name: [(Estimate(p.human_error, *interval(p)), t.fake_error["all"][p.pool]) for p in correlation.points]
        for name, interval in intervals.items()
    }
    return {
        "accuracy, Wilson": Estimate(summary.accuracy, summary.ci_low, summary.ci_high),
        "accuracy, two-way cluster-robust (annotators × images)": Estimate(summary.accuracy, *two_way),
        **per_pool,
        "fake error (all generated)": Estimate(summary.fake_error),
        "real error": Estimate(summary.real_error),
        "d′": Estimate(summary.d_prime),
        "HYPE∞, bootstrap over annotators": Estimate(hype.score, hype.ci_low, hype.ci_high),
        "feedback − no feedback, Newcombe": Estimate(arms.difference, arms.ci_low, arms.ci_high),
        "feedback − no feedback, bootstrap over annotators": Estimate(
            arms.difference, arms.cluster_ci_low, arms.cluster_ci_high
        ),
        "Pearson r (error vs IS), two-way bootstrap": Estimate(correlation.pearson_r, *correlation.pearson_ci),
        "Spearman ρ (error vs IS), two-way bootstrap": Estimate(correlation.spearman_rho, *correlation.spearman_ci),
    }


@dataclasses.dataclass(frozen=True)
class Row:
    scenario: str
    estimate: str
    truth: float
    mean: float
    bias: float
    covered: int | None  # replicates whose interval holds the truth (None: no interval)
    n: int

    @property
    def coverage(self) -> float:
        return self.covered / self.n if self.covered is not None and self.n else math.nan


def summarise(scenario: str, results: list[dict], population: int) -> list[Row]:
    rows = []
    for name, truth in truths(scenario, population).items():
        pairs: list[tuple[Estimate, float]] = []
        for result in results:
            found = result[name]
            pairs += found if isinstance(found, list) else [(found, truth)]
        values = np.array([e.value for e, _ in pairs])
        true = np.array([t for _, t in pairs])
        with_interval = [(e, t) for e, t in pairs if math.isfinite(e.low) and math.isfinite(e.high)]
        covered = sum(e.low <= t <= e.high for e, t in with_interval) if with_interval else None
        rows.append(
            Row(scenario, name, truth, float(np.nanmean(values)), float(np.nanmean(values - true)), covered,
                len(with_interval) if with_interval else len(pairs))
        )  # fmt: skip
    return rows


def run(replicates: int, n_boot: int, jobs: int, seed: int, scenarios: list[str], population: int) -> list[Row]:
    rows = []
    map_: Callable = map
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    if pool is not None:
        map_ = pool.imap
    try:
        for index, scenario in enumerate(scenarios):
            work = [(scenario, seed * 1_000_003 + index * 100_003 + r, n_boot) for r in range(replicates)]
            rows += summarise(scenario, list(map_(replicate, work)), population)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return rows


def fmt(value: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | estimate | truth | mean estimate | bias | 95% interval covers the truth [MC 95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.covered is None:
            cover = "no interval shown"
        else:
            low, high = stats.wilson_interval(row.covered, row.n)
            cover = f"{100 * row.coverage:.1f}% [{100 * low:.1f}, {100 * high:.1f}] of {row.n}"
        lines.append(
            f"| {row.scenario} | {row.estimate} | {fmt(row.truth)} | {fmt(row.mean)} | {fmt(row.bias, 4)} | {cover} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=200, help="studies per scenario (default 200)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples per interval (default 1000)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all")
    parser.add_argument(
        "--population", type=int, default=1000, help="observers of the study that gives HYPE-time's population value"
    )
    parser.add_argument("--quick", action="store_true", help="4 replicates, 200 resamples, one process")
    args = parser.parse_args(argv)
    if args.quick:
        args.replicates, args.n_boot, args.jobs, args.population = 4, 200, 1, 100
    began = time.monotonic()
    rows = run(args.replicates, args.n_boot, args.jobs, args.seed, args.scenario or list(SCENARIOS), args.population)
    print(table(rows))
    print(
        f"\nR = {args.replicates} replicates per scenario, {args.n_boot} bootstrap resamples per interval, "
        f"{args.jobs} processes, seed {args.seed}: {time.monotonic() - began:.0f} s"
    )
    return rows


if __name__ == "__main__":
    main()
