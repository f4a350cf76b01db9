"""With feedback, revealed truths must not tell the next: an observer who counts them, never looking at an image,
stays at chance. And in HYPE-time the exposure after an attention check looks like any other."""

from __future__ import annotations

import itertools
import random

import pytest
from annotation_factories import STUDY_TEXTS, ImagePoolFactory, answer_all, open_study, start

from annotation import services
from annotation.models import Assignment
from annotation.protocols.sequence import independent_counts
from annotation.stats import next_exposure
from bench.feedback_counting import fixed_split, independent, observer_accuracy


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
    study = services.create_study(
        **STUDY_TEXTS,
        name="timed",
        protocol="hype_time",
        items_per_assignment=6,
        block_size=6,
        attention_per_assignment=2,
    )
    services.set_study_pool(study, real)
    services.set_study_pool(study, fake)
    services.add_attention_items(study, obvious, count=2)
    services.open_study(study)
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
