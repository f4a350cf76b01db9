"""With feedback, revealed truths must not tell the next: an observer who counts them, never looking at an image,
stays at chance. And in HYPE-time the exposure after an attention check looks like any other, and each block is a
staircase of its own."""

from __future__ import annotations

import itertools
import random

import pytest

from annotation.actions import studies
from annotation.actions.studies import add_attention_items, create_study, set_study_pool
from annotation.models import Assignment
from annotation.protocols.sequence import independent_counts, shuffle_blocks
from annotation.stats import START_MS, next_exposure
from bench.feedback_counting import fixed_split, independent, observer_accuracy
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, answer_all, open_study, start


def accuracy(draw, **kwargs) -> float:
    right, total = observer_accuracy(draw, length=100, real_fraction=0.5, block_size=None, sequences=4000, **kwargs)
    return right / total


def test_counting_revealed_truths_beats_chance_against_a_fixed_split_only():
    # 400,000 guesses: chance's standard error is 0.0008, so 0.5 + 0.004 is five of them.
    assert accuracy(fixed_split) > 0.55
    assert abs(accuracy(independent) - 0.5) < 0.004


def test_independent_counts_are_a_multinomial_draw():
    rng = random.Random(3)
    draws = [independent_counts(100, [0.5, 0.3, 0.2], rng) for _ in range(3000)]
    assert all(sum(d) == 100 for d in draws)
    means = [sum(d[i] for d in draws) / len(draws) for i in range(3)]
    assert means == pytest.approx([50, 30, 20], abs=0.5)
    variance = sum((d[0] - 50) ** 2 for d in draws) / len(draws)
    assert variance == pytest.approx(100 * 0.5 * 0.5, rel=0.1)  # binomial: n p (1 - p)


@pytest.mark.django_db
def test_sequences_shown_with_feedback_draw_each_place_on_its_own():
    study = open_study(feedback="each", items_per_assignment=10, judgments_per_item=20)
    reals = []
    for i in range(12):
        sequence = start(study, f"w{i}").sequence.select_related("item")
        assert sequence.count() == 10
        reals.append(sum(place.item.truth_real for place in sequence))
    assert len(set(reals)) > 1, "an exact split in every sequence would let counting win"
    fixed = open_study(feedback="none", items_per_assignment=10, judgments_per_item=20)
    assert {sum(p.item.truth_real for p in start(fixed, f"n{i}").sequence.all()) for i in range(4)} == {5}


@pytest.mark.django_db
def test_in_hype_time_an_attention_check_steps_the_exposure_like_any_image():
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    study = create_study(
        **STUDY_TEXTS,
        name="timed",
        protocol="hype_time",
        items_per_assignment=6,
        block_size=6,
        attention_per_assignment=2,
    )
    set_study_pool(study, real)
    set_study_pool(study, fake)
    add_attention_items(study, obvious, count=2)
    studies.open_study(study)
    assignment = start(study)
    answer_all(assignment)  # every answer right: each must shorten the next exposure by the same step
    shown = list(
        Assignment.objects.get(pk=assignment.pk)
        .sequence.order_by("position")
        .values_list("exposure_ms", "item__purpose")
    )
    assert "attention" in {purpose for _, purpose in shown}
    exposures = [exposure for exposure, _ in shown]
    assert all(after == next_exposure(before, True) for before, after in itertools.pairwise(exposures))


@pytest.mark.django_db
def test_in_hype_time_each_block_restarts_at_500_ms_and_checks_step_within_it():
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    study = create_study(
        **STUDY_TEXTS,
        name="timed blocks",
        protocol="hype_time",
        items_per_assignment=6,
        block_size=3,
        attention_per_assignment=2,
    )
    set_study_pool(study, real)
    set_study_pool(study, fake)
    add_attention_items(study, obvious, count=2)
    studies.open_study(study)
    assignment = start(study)
    answer_all(assignment)  # all right: within a block each exposure is one step below the last, checks included
    shown = list(
        Assignment.objects.get(pk=assignment.pk).sequence.order_by("position").values_list("exposure_ms", "block")
    )
    blocks = [block for _, block in shown]
    assert sorted(set(blocks)) == [0, 1] and len(shown) == 8  # the checks join the two blocks, not a third
    for (before, block_before), (after, block) in itertools.pairwise(shown):
        assert after == (START_MS if block != block_before else next_exposure(before, True))
    assert shown[0][0] == START_MS


def test_attention_checks_never_make_a_block_of_their_own():
    # 450 images in blocks of 150 and 5 checks: three blocks, as the paper's three staircases, not a fourth of 5.
    rng = random.Random(1)
    blocks = shuffle_blocks([list(range(225)), list(range(1000, 1225))], 150, list(range(5000, 5005)), rng)
    assert [len(block) for block in blocks] == [152, 152, 151]
    assert sorted(item for block in blocks for item in block) == [
        *range(225),
        *range(1000, 1225),
        *range(5000, 5005),
    ]
    assert [len(b) for b in shuffle_blocks([[1, 2], [3]], None, [9], rng)] == [4]
