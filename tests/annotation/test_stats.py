"""annotation.stats: the judgments table, Wilson and Newcombe intervals, accuracy, signal detection, the staircase,
per-annotator flags and the qualification rule, each against a hand computation or a published value."""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest, norm
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from annotation.stats import (
    START_MS,
    Judgments,
    accuracy_summary,
    exclude_flagged,
    exposure_sequence,
    newcombe_interval,
    next_exposure,
    per_annotator,
    qualification_passed,
    signal_detection,
    wilson_interval,
)
from annotation.stats.staircase import DOWN_MS, MAX_MS, MIN_MS, UP_MS

Z95 = 1.959963984540054


def table(rows):
    """Judgments from (annotator, truth_real, answer_real) tuples, or dicts for more columns."""
    records = [r if isinstance(r, dict) else dict(annotator=r[0], truth_real=r[1], answer_real=r[2]) for r in rows]
    for i, r in enumerate(records):
        r.setdefault("item", i)
    return Judgments.from_records(records)


def counts_table(annotator, real_right, n_real, fake_right, n_fake, attention=()):
    """One annotator's judgments: ``real_right`` of ``n_real`` real images called real, ``fake_right`` of ``n_fake``
    generated images called generated; ``attention`` = (truth, answer) pairs of attention checks."""
    rows = [(annotator, True, i < real_right) for i in range(n_real)]
    rows += [(annotator, False, i >= fake_right) for i in range(n_fake)]
    rows += [dict(annotator=annotator, truth_real=t, answer_real=a, attention=True) for t, a in attention]
    return rows


# --- the table -------------------------------------------------------------------------------------------------


def test_from_records_fills_defaults_and_types():
    j = Judgments.from_records([dict(annotator=1, item=2, truth_real=True, answer_real=0)])
    assert len(j) == 1
    assert j.pool.tolist() == [0] and j.trial.tolist() == [0] and j.block.tolist() == [0]
    assert j.condition.tolist() == [""] and not j.attention[0]
    assert math.isnan(j.response_ms[0]) and math.isnan(j.exposure_ms[0])
    assert j.annotator.dtype == np.int64 and j.answer_real.dtype == np.bool_ and j.response_ms.dtype == np.float64
    assert j.correct.tolist() == [False]


def test_from_records_names_a_missing_required_column():
    with pytest.raises(ValueError, match="answer_real"):
        Judgments.from_records([dict(annotator=1, item=2, truth_real=True)])


def test_constructor_checks_lengths_and_refuses_string_booleans():
    good = {name: getattr(Judgments.empty(), name) for name in Judgments.__dataclass_fields__}
    with pytest.raises(ValueError, match="item"):
        Judgments(**{**good, "item": [1]})
    rows = table([(1, True, True)])
    columns = {name: getattr(rows, name) for name in Judgments.__dataclass_fields__}
    with pytest.raises(ValueError, match="truth_real"):
        Judgments(**{**columns, "truth_real": np.array(["False"], dtype=object)})


def test_columns_are_private_read_only_copies():
    answers = np.array([True, False])
    columns = dict(
        annotator=[1, 1], item=[1, 2], pool=[0, 0], truth_real=[True, False], answer_real=answers,
        response_ms=[1.0, 2.0], trial=[0, 1], condition=np.array(["a", "b"], dtype=object), block=[0, 0],
        exposure_ms=[np.nan, np.nan], attention=[False, False],
    )  # fmt: skip
    j = Judgments(**columns)
    answers[0] = False
    assert j.answer_real.tolist() == [True, False]
    with pytest.raises(ValueError):
        j.answer_real[0] = False
    assert j.condition.dtype.kind == "U"


def test_subset_and_scored_drop_rows():
    j = table(counts_table(1, 2, 3, 1, 2, attention=[(True, False)]))
    assert len(j) == 6 and len(j.scored()) == 5
    assert len(j.subset(j.truth_real)) == 4
    assert len(j.subset(np.array([0, 1]))) == 2
    assert len(Judgments.empty()) == 0


# --- Wilson and Newcombe ------------------------------------------------------------------------------------------


def wilson_by_hand(s, n, z=Z95):
    p = s / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return center - half, center + half


@pytest.mark.parametrize(
    ("s", "n", "low", "high"),
    # Newcombe (1998a), Table II, method 3 (score interval); statsmodels' proportion_confint(method="wilson")
    # gives the same values.
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998a(s, n, low, high):
    got = wilson_interval(s, n)
    assert got == pytest.approx((low, high), abs=5e-5)
    assert got == pytest.approx(wilson_by_hand(s, n), abs=1e-12)


def test_wilson_hand_value_and_confidence():
    # 7/10 at 95%: z²/2n = 0.192073, 1 + z²/n = 1.384146, center 0.892073/1.384146 = 0.644493,
    # half (1.959964/1.384146)·√(0.021 + 0.009604) = 0.247715 (hand-computed from the formula).
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.396778, abs=1e-6) and high == pytest.approx(0.892209, abs=1e-6)
    low99, high99 = wilson_interval(7, 10, confidence=0.99)
    assert low99 < low and high99 > high
    assert wilson_interval(7, 10, 0.9) == pytest.approx(wilson_by_hand(7, 10, norm.ppf(0.95)))


def test_wilson_edges_and_errors():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert wilson_interval(5, 5)[1] == 1.0 and wilson_interval(0, 5)[0] == 0.0
    for bad in [(-1, 5), (6, 5), (1, -1)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=1.0)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.5, 0.999))
def test_wilson_contains_the_proportion_within_unit_interval(sn, confidence):
    s, n = sn
    low, high = wilson_interval(s, n, confidence)
    assert 0.0 <= low <= s / n <= high <= 1.0


@given(
    st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_equals_statsmodels(sn, confidence):
    s, n = sn
    expected = proportion_confint(s, n, alpha=1 - confidence, method="wilson")
    assert wilson_interval(s, n, confidence) == pytest.approx(expected, abs=1e-12)


@given(
    st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_newcombe_equals_statsmodels(a, b):
    expected = confint_proportions_2indep(*a, *b, method="newcomb", compare="diff")
    assert newcombe_interval(*a, *b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("a", "m", "b", "n", "low", "high"),
    # Newcombe (1998b), Table II, method 10 (hybrid score interval without continuity correction).
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_newcombe_matches_published_table(a, m, b, n, low, high):
    assert newcombe_interval(a, m, b, n) == pytest.approx((low, high), abs=5e-5)


def test_newcombe_worked_example_by_hand():
    # d = 0.8 − 0.6 = 0.2 (Newcombe's example a); the limits combine the Wilson intervals' distances from p̂.
    l1, u1 = wilson_by_hand(56, 70)
    l2, u2 = wilson_by_hand(48, 80)
    low, high = newcombe_interval(56, 70, 48, 80)
    assert low == pytest.approx(0.2 - math.sqrt((0.8 - l1) ** 2 + (u2 - 0.6) ** 2), abs=1e-12)
    assert high == pytest.approx(0.2 + math.sqrt((u1 - 0.8) ** 2 + (0.6 - l2) ** 2), abs=1e-12)
    assert all(math.isnan(v) for v in newcombe_interval(1, 2, 0, 0))


@given(st.integers(1, 300), st.integers(1, 300), st.data())
def test_newcombe_contains_the_difference(m, n, data):
    a, b = data.draw(st.integers(0, m)), data.draw(st.integers(0, n))
    low, high = newcombe_interval(a, m, b, n)
    assert -1.0 <= low <= a / m - b / n <= high <= 1.0


# --- accuracy and signal detection -------------------------------------------------------------------------------


def test_accuracy_summary_against_direct_computation():
    # 30 real (24 called real), 20 generated (15 called generated), plus one missed attention check.
    rows = counts_table(1, 24, 30, 15, 20, attention=[(False, True)])
    for i, r in enumerate(rows):
        rows[i] = dict(annotator=r[0], truth_real=r[1], answer_real=r[2]) if isinstance(r, tuple) else r
        rows[i].update(item=i, response_ms=float(i) if i % 5 else np.nan)
    j = Judgments.from_records(rows)
    s = accuracy_summary(j)
    assert (s.n, s.correct) == (50, 39)
    assert s.accuracy == pytest.approx(39 / 50)
    assert (s.ci_low, s.ci_high) == pytest.approx(wilson_by_hand(39, 50))
    assert s.p_value_vs_chance == pytest.approx(binomtest(39, 50, 0.5).pvalue, rel=1e-12)
    assert s.fake_error == pytest.approx(5 / 20) and s.real_error == pytest.approx(6 / 30)
    assert (s.n_fake, s.n_real) == (20, 30)
    assert (s.fake_ci_low, s.fake_ci_high) == pytest.approx(proportion_confint(5, 20, method="wilson"))
    assert (s.real_ci_low, s.real_ci_high) == pytest.approx(proportion_confint(6, 30, method="wilson"))
    h, f = (24 + 0.5) / 31, (5 + 0.5) / 21
    assert s.d_prime == pytest.approx(norm.ppf(h) - norm.ppf(f))
    assert s.criterion == pytest.approx(-(norm.ppf(h) + norm.ppf(f)) / 2)
    times = [float(i) for i in range(50) if i % 5]
    assert s.mean_response_ms == pytest.approx(np.mean(times)) and s.median_response_ms == np.median(times)


def test_accuracy_summary_of_nothing_is_undefined_and_serialisable():
    s = accuracy_summary(Judgments.empty())
    assert s.n == 0 and math.isnan(s.accuracy) and math.isnan(s.p_value_vs_chance) and math.isnan(s.d_prime)
    d = s.to_dict()
    assert d["accuracy"] is None and d["n"] == 0
    json.dumps(d, allow_nan=False)


def test_signal_detection_stays_finite_at_perfect_and_reads_bias():
    perfect = signal_detection(10, 10, 0, 10)
    assert perfect.hit_rate == pytest.approx(10.5 / 11) and perfect.false_alarm_rate == pytest.approx(0.5 / 11)
    assert perfect.d_prime == pytest.approx(2 * norm.ppf(10.5 / 11)) and perfect.criterion == pytest.approx(0)
    assert signal_detection(25, 50, 25, 50).d_prime == pytest.approx(0)
    assert signal_detection(5, 50, 5, 50).criterion > 0  # says "generated" a lot: conservative about "real"
    assert math.isnan(signal_detection(3, 5, 0, 0).d_prime)
    with pytest.raises(ValueError):
        signal_detection(6, 5, 0, 5)


# --- the staircase -----------------------------------------------------------------------------------------------


def test_staircase_steps_and_clamps():
    assert START_MS == 500
    assert next_exposure(500, correct=True) == 500 - DOWN_MS
    assert next_exposure(500, correct=False) == 500 + UP_MS
    assert next_exposure(MIN_MS + 3, correct=True) == MIN_MS
    assert next_exposure(MAX_MS - 3, correct=False) == MAX_MS
    assert next_exposure(MIN_MS, correct=True) == MIN_MS and next_exposure(MAX_MS, correct=False) == MAX_MS
    assert next_exposure(500.4, True, up_ms=7, down_ms=3, low=0, high=2000) == 497
    assert isinstance(next_exposure(500.0, True), int)
    with pytest.raises(ValueError):
        next_exposure(500, True, low=600, high=500)


def test_staircase_converges_where_three_quarters_are_right():
    # Stationary where the expected step is 0: −DOWN·p + UP·(1 − p) = 0 ⇔ p = UP/(UP + DOWN) = 0.75.
    assert UP_MS / (UP_MS + DOWN_MS) == 0.75
    assert exposure_sequence([True, True, False, True]) == [500, 490, 480, 510]
    assert exposure_sequence([True] * 50)[-1] == MIN_MS
    assert exposure_sequence([], start_ms=50) == [] and exposure_sequence([True], start_ms=50) == [MIN_MS]


def test_each_block_is_its_own_staircase_from_500_ms():
    # Zhou et al. 2019, §2.1: "Every evaluator completes multiple staircases, called blocks"; "All blocks begin at
    # 500 ms". The block's first image is at 500 ms whatever the previous block ended on, right or wrong.
    answers = [True, True, False, True, False, True]
    assert exposure_sequence(answers, blocks=[0, 0, 0, 1, 1, 2]) == [500, 490, 480, 500, 490, 500]
    assert exposure_sequence(answers, blocks=[0] * 6) == exposure_sequence(answers) == [500, 490, 480, 510, 500, 530]
    with pytest.raises(ValueError, match="blocks: 2 given for 6 answers"):
        exposure_sequence(answers, blocks=[0, 1])


# --- annotators ----------------------------------------------------------------------------------------------------


def test_per_annotator_counts_and_flags():
    rows = counts_table(7, 8, 10, 6, 10, attention=[(True, True), (False, False)])
    rows += counts_table(3, 5, 5, 0, 5, attention=[(True, False), (False, True), (False, False)])
    rows += counts_table(9, 1, 2, 2, 2)
    j = table(rows)
    by_id = {s.annotator: s for s in per_annotator(j)}
    assert [s.annotator for s in per_annotator(j)] == [3, 7, 9]
    a7, a3, a9 = by_id[7], by_id[3], by_id[9]
    assert (a7.n, a7.accuracy, a7.fake_error, a7.real_error) == (20, 0.7, 0.4, 0.2)
    assert (a7.attention_n, a7.attention_missed, a7.flagged) == (2, 0, False)
    assert (a3.attention_n, a3.attention_missed, a3.flagged) == (3, 2, True)
    assert (a3.fake_error, a3.real_error) == (1.0, 0.0)
    assert a9.attention_n == 0 and not a9.flagged
    assert not per_annotator(j, max_attention_missed=2)[0].flagged
    kept = exclude_flagged(j, per_annotator(j))
    assert set(kept.annotator.tolist()) == {7, 9} and len(kept) == 22 + 4
    assert per_annotator(Judgments.empty()) == []


def test_qualification_needs_both_halves():
    assert qualification_passed(table(counts_table(1, 13, 20, 13, 20)))  # 65% exactly on both
    assert not qualification_passed(table(counts_table(1, 12, 20, 20, 20)))  # real half at 60%
    assert not qualification_passed(table(counts_table(1, 20, 20, 12, 20)))  # fake half at 60%
    assert not qualification_passed(table(counts_table(1, 20, 20, 0, 20)))  # says "real" to everything: 50%
    assert not qualification_passed(table(counts_table(1, 10, 10, 0, 0)))  # no generated images
    assert qualification_passed(table(counts_table(1, 3, 4, 3, 4)), threshold=0.75)
    # attention checks do not count towards either half
    assert qualification_passed(table(counts_table(1, 13, 20, 13, 20, attention=[(True, False)] * 5)))
    with pytest.raises(ValueError, match="more than one annotator"):
        qualification_passed(table(counts_table(1, 5, 5, 5, 5) + counts_table(2, 5, 5, 5, 5)))
