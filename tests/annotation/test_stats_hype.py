"""annotation.stats HYPE scores: HYPE∞ on tables with a known error, the annotator bootstrap against a plain loop,
the modal exposure and HYPE-time."""

import math
import random

import numpy as np
import pytest

from annotation.stats import Judgments, exposure_sequence, hype_infinity, hype_time_score, modal_exposure, next_exposure
from annotation.stats.bootstrap import bootstrap_ratio, percentile_interval
from annotation.stats.staircase import DOWN_MS, MAX_MS, MIN_MS, START_MS, UP_MS


def judgments(rows):
    records = [dict(r) for r in rows]
    for i, r in enumerate(records):
        r.setdefault("item", i)
    return Judgments.from_records(records)


def annotator_rows(annotator, fake_judged_real, n_fake, real_judged_fake, n_real):
    rows = [dict(annotator=annotator, truth_real=False, answer_real=i < fake_judged_real) for i in range(n_fake)]
    rows += [dict(annotator=annotator, truth_real=True, answer_real=i >= real_judged_fake) for i in range(n_real)]
    return rows


def study():
    """Four annotators with known errors: (fake judged real, fakes, real judged fake, reals)."""
    spec = {1: (10, 25, 5, 25), 2: (20, 25, 10, 25), 3: (5, 25, 0, 25), 4: (15, 25, 5, 25)}
    rows = [r for a, s in spec.items() for r in annotator_rows(a, *s)]
    rows.append(dict(annotator=1, truth_real=False, answer_real=True, attention=True))  # must not count
    return judgments(rows), spec


def test_hype_infinity_is_the_pooled_error():
    j, spec = study()
    h = hype_infinity(j, n_boot=2000)
    errors = sum(s[0] + s[2] for s in spec.values())
    assert h.score == pytest.approx(errors / 200) == pytest.approx(0.35)
    assert h.fake_error == pytest.approx(50 / 100) and h.real_error == pytest.approx(20 / 100)
    assert (h.n_annotators, h.n, h.unit) == (4, 200, "fraction")
    assert h.ci_low <= h.score <= h.ci_high
    # the interval's ends are pooled errors of some resample, so they lie between the extreme annotators
    per = [(s[0] + s[2]) / 50 for s in spec.values()]
    assert min(per) <= h.ci_low and h.ci_high <= max(per)


def test_hype_infinity_bootstrap_is_seeded():
    rng = np.random.default_rng(0)
    j = judgments(r for a in range(30) for r in annotator_rows(a, int(rng.integers(0, 20)), 20, 3, 20))
    first, again, other = (hype_infinity(j, n_boot=1000, seed=s) for s in (5, 5, 6))
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert hype_infinity(j).n_boot == 10_000


def test_bootstrap_ratio_matches_a_plain_loop():
    num, den = np.array([3.0, 10.0, 0.0, 7.0, 4.0]), np.array([10.0, 12.0, 5.0, 9.0, 10.0])
    fast = bootstrap_ratio(num, den, n_boot=300, seed=11)
    rng = np.random.default_rng(11)
    slow = []
    for _ in range(300):
        pick = rng.integers(0, 5, size=5)
        slow.append(num[pick].sum() / den[pick].sum())
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    low, high = percentile_interval(fast, 0.9)
    assert (low, high) == pytest.approx(tuple(np.quantile(slow, [0.05, 0.95])))


def test_hype_infinity_edge_cases():
    one = judgments(annotator_rows(1, 3, 10, 2, 10))
    h = hype_infinity(one, n_boot=200)
    assert h.score == pytest.approx(0.25) and h.ci_low == h.ci_high == pytest.approx(0.25)
    empty = hype_infinity(Judgments.empty())
    assert math.isnan(empty.score) and math.isnan(empty.ci_low) and empty.n_annotators == 0
    assert empty.to_dict()["score"] is None


def test_modal_exposure_prefers_the_lowest_among_ties():
    assert modal_exposure(np.array([500, 470, 470, 500, 440, 470.0])) == 470
    assert modal_exposure(np.array([500, 470, 470, 500, 440.0])) == 470  # 470 and 500 tie: the lower
    assert modal_exposure(np.array([300.0, 200.0])) == 200
    assert modal_exposure(np.array([np.nan, 250.0, np.nan])) == 250
    assert math.isnan(modal_exposure(np.array([np.nan]))) and math.isnan(modal_exposure(np.array([])))


def timed_rows(annotator, block, exposures, **extra):
    return [
        dict(annotator=annotator, block=block, exposure_ms=float(e), truth_real=i % 2 == 0, answer_real=True, **extra)
        for i, e in enumerate(exposures)
    ]


def test_hype_time_averages_block_modes_then_annotators():
    rows = timed_rows(1, 0, [500, 470, 470, 440]) + timed_rows(1, 1, [500, 530, 530, 500, 470])  # modes 470, 500
    rows += timed_rows(2, 0, [300, 300, 330])  # mode 300
    rows += timed_rows(2, 0, [900], attention=True)  # attention checks do not count
    rows += [dict(annotator=2, truth_real=True, answer_real=True, exposure_ms=np.nan)] * 5  # unlimited: ignored
    rows += [dict(annotator=3, truth_real=True, answer_real=False)]  # no timed judgments: not an annotator here
    h = hype_time_score(judgments(rows), n_boot=500)
    assert h.score == pytest.approx(((470 + 500) / 2 + 300) / 2)
    assert (h.n_annotators, h.n, h.unit) == (2, 12, "ms")
    assert h.ci_low == pytest.approx(300) and h.ci_high == pytest.approx(485)  # both resamples' extremes reached
    assert h.fake_error == pytest.approx(1.0) and h.real_error == pytest.approx(0.0)


def test_hype_time_on_a_simulated_staircase():
    # An annotator right 3 times out of 4 keeps near where the staircase started: the mode is what it visited most.
    answers = [True, True, True, False] * 10
    shown = exposure_sequence(answers)
    rows = [
        dict(annotator=1, block=0, exposure_ms=e, truth_real=True, answer_real=right)
        for e, right in zip(shown, answers)
    ]
    h = hype_time_score(judgments(rows), n_boot=100)
    assert h.score == modal_exposure(np.array(shown, dtype=float))
    assert math.isnan(hype_time_score(Judgments.empty()).score)


def simulated_observer(rng, exposure_ms):
    """Right half the time at the floor, right 75% of the time at 300 ms, nearly always at 1000 ms."""
    return rng.random() < 0.5 + 0.5 / (1 + math.exp(-(exposure_ms - 300) / 40))


def staircase_rows(annotators, *, up_ms, down_ms, seed=7):
    """Three blocks of 150 answers per annotator, each block its own staircase from 500 ms, the observer above."""
    rng = random.Random(seed)
    rows = []
    for annotator in range(annotators):
        for block in range(3):
            exposure = START_MS
            for _ in range(150):
                right = simulated_observer(rng, exposure)
                rows.append(
                    dict(annotator=annotator, block=block, exposure_ms=exposure, truth_real=True, answer_real=right)
                )
                exposure = next_exposure(exposure, right, up_ms=up_ms, down_ms=down_ms)
    return rows


def test_the_staircase_settles_at_the_observers_75_percent_point_and_the_literal_steps_at_the_floor():
    # The paper (§2.1) wants "a 75% accuracy threshold". Its steps, −10 ms right and +30 ms wrong, find this
    # observer's 75% point, 300 ms; the numbers of its sentence taken literally (−30 right, +10 wrong) are stationary
    # at 25% right, so any observer at least at chance sinks to the 100 ms floor: every model would score 100 ms.
    assert (UP_MS, DOWN_MS) == (30, 10)
    found = hype_time_score(judgments(staircase_rows(30, up_ms=UP_MS, down_ms=DOWN_MS)), n_boot=0)
    assert found.score == pytest.approx(300, abs=25)
    literal = hype_time_score(judgments(staircase_rows(30, up_ms=10, down_ms=30)), n_boot=0)
    assert literal.score == MIN_MS


def test_hype_time_averages_the_modes_of_blocks_that_each_restart_at_500_ms():
    # §2.1: "All blocks begin at 500 ms"; "We average the modal exposure times across blocks". An annotator right
    # in the first block sinks to the floor; the second block starts again at 500 and, all wrong, rises to the top.
    answers = [True] * 60 + [False] * 30
    blocks = [0] * 60 + [1] * 30
    shown = exposure_sequence(answers, blocks=blocks)
    assert shown[0] == shown[60] == START_MS
    assert shown[59] == MIN_MS and shown[61] == START_MS + UP_MS and shown[-1] == MAX_MS
    rows = [
        dict(annotator=1, block=b, exposure_ms=e, truth_real=True, answer_real=right)
        for e, b, right in zip(shown, blocks, answers, strict=True)
    ]
    h = hype_time_score(judgments(rows), n_boot=0)
    assert h.score == pytest.approx((MIN_MS + MAX_MS) / 2)  # block modes: 100 ms (from trial 40 on) and 1000 ms
