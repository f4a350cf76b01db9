"""A study's numbers, from its stored judgments through annotation.stats: what the results page shows and the
summary CSV holds. Reads only.

The scored judgments are the test phase's (qualification answers never count). Each generated pool is scored
against the real images its annotators saw ("pool vs real"): its fake error, the shared real error, and the
accuracy, d′ and HYPE scores of that mix; a real pool's row has its real error alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from django.db.models import Count

from annotation import stats
from annotation.models import Annotator, Assignment, AssignmentItem, Judgment, Study, StudyItem, StudyPool
from annotation.protocols import get_protocol
from annotation.stats.result import Result, plain
from runs.models import ImagePool, JobStatus, PoolScore

CONDITIONS = ("feedback", "no_feedback")
# Which annotators' judgments the numbers count: people only (the default), simulated observers too, or only them.
HUMAN, WITH_SIMULATED, SIMULATED_ONLY = "exclude", "include", "only"
SIMULATED_CHOICES = (HUMAN, WITH_SIMULATED, SIMULATED_ONLY)
CURVE_BIN = 10
ALL = "all"
# Score names as the results page and CSV show them, and their keys in a PoolScore's values.
SCORE_KEYS = {"Inception Score": "is_mean", "FID": "fid", "C2ST accuracy": "c2st_accuracy"}
# A score's spread where its record holds one: IS's standard deviation over its splits. FID's record has none.
SPREAD_KEYS = {"Inception Score": "is_std"}
SCORED_COLUMNS = (
    "assignment_item__assignment__annotator_id",
    "assignment_item__item_id",
    "assignment_item__item__pool_id",
    "assignment_item__item__truth_real",
    "answer_real",
    "response_ms",
    "assignment_item__trial",
    "assignment_item__assignment__annotator__feedback",
    "assignment_item__block",
    "assignment_item__exposure_ms",
    "assignment_item__item__purpose",
    "exposure_shown_ms",
    "dropped_frames",
)
SCORED_DTYPES = (
    *(np.int64, np.int64, np.int64, bool, bool, np.float64, np.int64, bool, np.int64, np.float64, object),
    *(np.float64, bool),  # a dropped-frames flag not reported (None) reads as False
)


def scored_judgments(study: Study, chunk_size: int = 20_000, *, simulated: str = HUMAN) -> stats.Judgments:
    """The study's test-phase judgments as a stats table: one query, streamed, each chunk turned into arrays at
    once so that a large study costs its arrays' memory rather than a Python object per value. ``simulated``:
    whether simulated observers' judgments are left out (``"exclude"``), counted too, or counted alone."""
    if simulated not in SIMULATED_CHOICES:
        raise ValueError(f"simulated: one of {SIMULATED_CHOICES}, got {simulated!r}")
    judgments = Judgment.objects.filter(
        assignment_item__assignment__study=study, assignment_item__phase=AssignmentItem.Phase.TEST
    )
    if simulated != WITH_SIMULATED:
        judgments = judgments.filter(assignment_item__assignment__annotator__simulated=simulated == SIMULATED_ONLY)
    rows = judgments.order_by("assignment_item_id").values_list(*SCORED_COLUMNS).iterator(chunk_size=chunk_size)
    parts: list[list[np.ndarray]] = [[] for _ in SCORED_COLUMNS]
    while chunk := list(islice(rows, chunk_size)):
        for part, column, dtype in zip(parts, zip(*chunk, strict=True), SCORED_DTYPES, strict=True):
            part.append(np.array(column, dtype=dtype))  # float columns take None as NaN
    if not parts[0]:
        return stats.Judgments.empty()
    annotator, item, pool, truth, answer, response, trial, feedback, block, exposure, purpose, shown, dropped = (
        np.concatenate(part) for part in parts
    )
    return stats.Judgments(
        annotator=annotator,
        item=item,
        pool=pool,
        truth_real=truth,
        answer_real=answer,
        response_ms=response,
        trial=trial,
        condition=np.where(feedback, "feedback", "no_feedback"),
        block=block,
        exposure_ms=exposure,
        attention=purpose == StudyItem.Purpose.ATTENTION,
        exposure_shown_ms=shown,
        dropped_frames=dropped,
    )


def newest_scores(pools: list[StudyPool]) -> list[tuple[int, str, dict[str, Any]]]:
    """(pool id, scorer, values) of every finished score of the generated pools, newest first: one query."""
    generated = [sp.pool_id for sp in pools if sp.pool.kind == ImagePool.Kind.GENERATED]
    newest_first = PoolScore.objects.filter(pool_id__in=generated, status=JobStatus.DONE).order_by("-created_at", "-id")
    return list(newest_first.values_list("pool_id", "scorer", "values"))


def pool_scores(
    scores: list[tuple[int, str, dict[str, Any]]], keys: dict[str, str] = SCORE_KEYS
) -> dict[str, dict[int, float]]:
    """Per score and scoring network ("Inception Score (inception)"): each generated pool's newest finished value,
    from ``newest_scores``; with ``keys=SPREAD_KEYS``, the spread of each score that has one (IS ± its standard
    deviation over splits). Scores of different networks are never put on one axis."""
    found: dict[str, dict[int, float]] = {}
    for pool_id, scorer, values in scores:
        for name, key in keys.items():
            if isinstance(values.get(key), int | float):
                found.setdefault(f"{name} ({scorer})", {}).setdefault(pool_id, float(values[key]))
    return found


@dataclass(frozen=True)
class MachineScores(Result):
    """A generated pool's automatic scores beside its human error: IS and FID from one network, and the classifier
    two-sample test's held-out accuracy with its binomial interval (50% = a classifier cannot tell it from real)."""

    pool: int
    label: str
    step: int | None
    scorer: str
    inception_score: float | None
    fid: float | None
    c2st_accuracy: float | None
    c2st_ci_low: float | None
    c2st_ci_high: float | None
    c2st_n_test: int | None


def machine_scores(pools: list[StudyPool], scores: list[tuple[int, str, dict[str, Any]]]) -> list[MachineScores]:
    """The newest finished score of each generated pool (``newest_scores``), in the study's pool order (a sweep's:
    by step)."""
    newest: dict[int, tuple[str, dict[str, Any]]] = {}
    for pool_id, scorer, values in scores:
        newest.setdefault(pool_id, (scorer, values))
    found = []
    for sp in pools:
        if sp.pool_id not in newest:
            continue
        scorer, values = newest[sp.pool_id]
        found.append(
            MachineScores(
                sp.pool_id,
                sp.name,
                sp.pool.step,
                scorer,
                *(values.get(key) for key in ("is_mean", "fid", "c2st_accuracy", "c2st_ci_low", "c2st_ci_high")),
                values.get("c2st_n_test"),
            )
        )
    return found


@dataclass
class Row:
    """One line of a table: what it is about, and the statistics of that slice."""

    condition: str
    pool: str
    pool_id: int | None
    accuracy: stats.AccuracySummary
    # Accuracy's interval clustered by annotators and images: the one that holds when annotators and images differ.
    accuracy_two_way: tuple[float, float] = (float("nan"), float("nan"))
    hype_infinity: stats.HypeScore | None = None
    hype_time: stats.HypeScore | None = None

    @property
    def hype_two_way(self) -> tuple[float, float]:
        """HYPE∞'s interval clustered by annotators and images: HYPE∞ is 1 − accuracy, so 1 − accuracy's."""
        low, high = self.accuracy_two_way
        return 1 - high, 1 - low


@dataclass
class Results:
    study: Study
    pools: list[StudyPool]
    excluded_flagged: bool
    simulated: str
    n_judgments: int
    n_annotators: int
    submitted: int
    disqualified: int
    withdrawn: int
    deviations: list[str]
    # Timed judgments whose exposure had a dropped frame, and whether HYPE-time counts them (by default not).
    dropped_frames: int = 0
    included_dropped: bool = False
    rows: list[Row] = field(default_factory=list)
    curve: list[stats.CurvePoint] = field(default_factory=list)
    arms: stats.ArmComparison | None = None
    annotators: list[tuple[stats.AnnotatorSummary, str]] = field(default_factory=list)
    correlations: list[tuple[str, stats.Correlation]] = field(default_factory=list)
    machine: list[MachineScores] = field(default_factory=list)
    # Per score name (as in ``correlations``): each pool's spread of that score, where it has one.
    score_spreads: dict[str, dict[int, float]] = field(default_factory=dict)
    # Annotators with scored judgments, per condition: an arm of one has no interval over annotators.
    arm_annotators: dict[str, int] = field(default_factory=dict)


def study_results(
    study: Study, *, exclude_flagged: bool = False, simulated: str = HUMAN, include_dropped: bool = False
) -> Results:
    """The study's numbers; ``exclude_flagged``: without annotators flagged by attention checks; ``simulated``:
    whose judgments count (people only by default); ``include_dropped``: HYPE-time counts the judgments whose
    exposure had a dropped frame (by default it leaves them out, as psychophysics leaves out trials whose timing
    failed: docs/annotation.md, "Timing")."""
    pools = list(study.study_pools.select_related("pool__run"))
    table = scored_judgments(study, simulated=simulated)
    summaries = stats.per_annotator(table)
    if exclude_flagged:
        table = stats.exclude_flagged(table, summaries)
    stages = {row["stage"]: row["n"] for row in study.assignments.values("stage").annotate(n=Count("id"))}
    protocol = get_protocol(study.protocol)
    settings = {name: getattr(study, name) for name in protocol.standard}
    results = Results(
        study=study,
        pools=pools,
        excluded_flagged=exclude_flagged,
        simulated=simulated,
        n_judgments=len(table),
        n_annotators=len(table.annotators()),
        submitted=stages.get(Assignment.Stage.SUBMITTED, 0),
        disqualified=stages.get(Assignment.Stage.DISQUALIFIED, 0),
        withdrawn=stages.get(Assignment.Stage.WITHDRAWN, 0),
        deviations=protocol.deviations(settings),
        dropped_frames=int(table.dropped_frames.sum()),
        included_dropped=include_dropped,
    )
    pseudonyms = dict(Annotator.objects.filter(study=study).values_list("pk", "pseudonym"))
    results.annotators = [(summary, pseudonyms.get(summary.annotator, "?")) for summary in summaries]
    conditions = [c for c in CONDITIONS if (table.condition == c).any()]
    results.arm_annotators = {c: len(table.subset(table.condition == c).annotators()) for c in conditions}
    for condition in ([ALL] if len(conditions) > 1 else []) + conditions:
        part = table if condition == ALL else table.subset(table.condition == condition)
        results.rows += _rows(part, condition, pools, protocol.timed, study.seed, include_dropped)
    results.curve = stats.learning_curve(table, bin_size=CURVE_BIN)
    if len(conditions) == 2:
        results.arms = stats.compare_arms(table, seed=study.seed)
    scored = newest_scores(pools)
    results.machine = machine_scores(pools, scored)
    for name, scores in pool_scores(scored).items():
        correlation = stats.human_vs_scores(table, scores, seed=study.seed)
        results.correlations.append((name, correlation))
    if results.correlations:
        results.score_spreads = pool_scores(scored, SPREAD_KEYS)
    return results


def _rows(
    table: stats.Judgments, condition: str, pools: list[StudyPool], timed: bool, seed: int, include_dropped: bool
) -> list[Row]:
    rows = [_row(table, condition, "all images", None, timed, seed, include_dropped)]
    real = table.truth_real
    for sp in pools:
        in_pool = table.pool == sp.pool_id
        if sp.pool.kind == ImagePool.Kind.REAL:
            part = table.subset(in_pool)
            rows.append(
                Row(condition, sp.name, sp.pool_id, stats.accuracy_summary(part), stats.two_way_accuracy_interval(part))
            )
        else:
            mix = table.subset(in_pool | real)
            rows.append(_row(mix, condition, f"{sp.name} vs real", sp.pool_id, timed, seed, include_dropped))
    return rows


def _row(
    table: stats.Judgments,
    condition: str,
    pool: str,
    pool_id: int | None,
    timed: bool,
    seed: int,
    include_dropped: bool = False,
) -> Row:
    return Row(
        condition=condition,
        pool=pool,
        pool_id=pool_id,
        accuracy=stats.accuracy_summary(table),
        accuracy_two_way=stats.two_way_accuracy_interval(table),
        hype_infinity=stats.hype_infinity(table, seed=seed),
        hype_time=stats.hype_time_score(table, seed=seed, include_dropped=include_dropped) if timed else None,
    )


def summary_rows(results: Results) -> Iterator[list[Any]]:
    """The summary tables in long form, one statistic a line: section, condition, pool (name and id), group
    (a learning curve's first trial, an annotator's pseudonym), statistic, value, and which annotators the
    numbers count (``simulated``: exclude, include or only simulated observers)."""
    yield ["section", "condition", "pool", "pool_id", "group", "statistic", "value", "simulated"]
    for line in _summary_lines(results):
        yield [*line, results.simulated]


def _summary_lines(results: Results) -> Iterator[list[Any]]:
    for row in results.rows:
        for section, result in (
            ("accuracy", row.accuracy),
            ("hype_infinity", row.hype_infinity),
            ("hype_time", row.hype_time),
        ):
            if result is not None:
                yield from (
                    [section, row.condition, row.pool, row.pool_id, "", key, value] for key, value in _plain(result)
                )
        for key, value in zip(("two_way_ci_low", "two_way_ci_high"), row.accuracy_two_way, strict=True):
            yield ["accuracy", row.condition, row.pool, row.pool_id, "", key, plain(value)]
    if get_protocol(results.study.protocol).timed:
        yield ["timing", ALL, "", "", "", "dropped_frames", results.dropped_frames]
        yield ["timing", ALL, "", "", "", "hype_time_counts_dropped_frames", results.included_dropped]
    for point in results.curve:
        yield from (
            ["learning_curve", point.condition, "", "", point.trial_bin_start, key, value]
            for key, value in _plain(point, "condition", "trial_bin_start")
        )
    if results.arms is not None:
        yield from (["feedback_vs_no_feedback", ALL, "", "", "", key, value] for key, value in _plain(results.arms))
    for summary, pseudonym in results.annotators:
        yield from (["annotator", "", "", "", pseudonym, key, value] for key, value in _plain(summary, "annotator"))
    for machine in results.machine:
        yield from (
            ["machine_scores", ALL, machine.label, machine.pool, "", key, value]
            for key, value in _plain(machine, "pool", "label")
        )
    for name, correlation in results.correlations:
        section = f"human_vs_{name}"
        yield from ([section, ALL, "", "", "", key, value] for key, value in _plain(correlation, "points"))
        for point in correlation.points:
            yield from ([section, ALL, "", point.pool, "", key, value] for key, value in _plain(point, "pool"))


def _plain(result: Result, *leave_out: str) -> Iterator[tuple[str, Any]]:
    return ((key, value) for key, value in result.to_dict().items() if key not in leave_out)
