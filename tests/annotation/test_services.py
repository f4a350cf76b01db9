"""The study services on the real database: item drawing, one judgment per item, arms, qualification, the
staircase, attention checks and reservations."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.actions import studies
from annotation.actions.answers import next_item, record_judgment
from annotation.actions.completion import finish_assignment
from annotation.actions.errors import Refused, StudyError
from annotation.actions.studies import add_attention_items, close_study, create_study, set_study_pool
from annotation.models import Annotator, Assignment, AssignmentItem, Judgment, Study, StudyItem
from annotation.stats import START_MS, exposure_sequence, next_exposure
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, answer_all, open_study, start

pytestmark = pytest.mark.django_db


def test_open_study_turns_pools_into_items_with_their_truth():
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    study = open_study([real, fake], require_qualification=True, qualification_items=6)
    items = StudyItem.objects.filter(study=study)
    assert study.status == Study.Status.OPEN
    assert items.filter(purpose="qualification", truth_real=True).count() == 3
    assert items.filter(purpose="qualification", truth_real=False).count() == 3
    assert items.filter(purpose="test", pool=real).count() == 37
    assert items.filter(purpose="test", pool=fake).count() == 37
    assert not items.filter(pool=real, truth_real=False).exists()
    assert not items.filter(pool=fake, truth_real=True).exists()


def test_open_refuses_pools_encoded_differently():
    real = ImagePoolFactory(kind="real", side=8)
    fake = ImagePoolFactory(kind="generated", side=10)
    study = create_study(**STUDY_TEXTS, name="mixed sizes", items_per_assignment=10)
    set_study_pool(study, real)
    set_study_pool(study, fake)
    with pytest.raises(StudyError, match="differ in image size: pool #"):
        studies.open_study(study)
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT
    assert not StudyItem.objects.filter(study=study).exists()


def test_open_refuses_a_study_without_real_or_generated_images():
    study = create_study(**STUDY_TEXTS, name="no real", items_per_assignment=10)
    set_study_pool(study, ImagePoolFactory(kind="generated"))
    with pytest.raises(StudyError, match="needs a real pool"):
        studies.open_study(study)


def test_hype_time_requires_feedback_and_takes_its_standard_design():
    with pytest.raises(StudyError, match="requires feedback"):
        create_study(**STUDY_TEXTS, name="t", protocol="hype_time", feedback="none")
    study = create_study(**STUDY_TEXTS, name="t", protocol="hype_time")
    assert (study.items_per_assignment, study.block_size, study.feedback) == (450, 150, "each")


def test_top_percent_keeps_the_images_with_the_largest_inception_contribution(tmp_path):
    import json

    real = ImagePoolFactory(kind="real")
    fake = ImagePoolFactory(kind="generated", tag="-scored")
    manifest_path = fake.folder / "pool.json"
    manifest = json.loads(manifest_path.read_text())
    kl = [float(i) for i in range(len(manifest["files"]))]
    manifest["scores"] = [{"scorer": "test", "weights_sha256": "x", "image_kl": kl}]
    manifest_path.write_text(json.dumps(manifest))
    study = open_study([real, fake], pool_options={fake.pk: {"top_percent": 25}}, items_per_assignment=4)
    kept = sorted(StudyItem.objects.filter(study=study, pool=fake).values_list("inception_kl", flat=True))
    assert kept == kl[-10:]


def test_sequence_is_balanced_shuffled_and_never_repeats():
    study = open_study(items_per_assignment=20, judgments_per_item=5)
    orders = []
    for worker in ("a", "b", "c"):
        assignment = start(study, worker)
        sequence = list(assignment.sequence.select_related("item").order_by("position"))
        truths = [entry.item.truth_real for entry in sequence]
        assert len(sequence) == 20 and truths.count(True) == 10
        assert len({entry.item_id for entry in sequence}) == 20
        assert [entry.trial for entry in sequence] == list(range(20))
        orders.append(truths)
    assert len({tuple(order) for order in orders}) > 1, "three identical real/generated orders: not shuffled"


def test_every_item_reaches_its_wanted_judgments_then_the_study_is_full():
    real, fake = ImagePoolFactory(kind="real", size=6), ImagePoolFactory(kind="generated", size=6)
    study = open_study([real, fake], items_per_assignment=4, judgments_per_item=2)
    for n in range(6):  # 12 items x 2 judgments / 4 per assignment
        assignment = start(study, f"w{n}")
        assert answer_all(assignment) == 4
        finish_assignment(assignment)
    per_item = Counter(Judgment.objects.values_list("assignment_item__item_id", flat=True))
    assert len(per_item) == 12 and set(per_item.values()) == {2}
    with pytest.raises(Refused, match="all the judgments it needs"):
        start(study, "late")


def test_a_second_assignment_of_an_annotator_shows_only_new_images():
    study = open_study(items_per_assignment=10, max_assignments_per_annotator=2)
    first = start(study, "w", platform="mturk", assignment_id="A1", submit_to="https://www.mturk.com")
    answer_all(first)
    finish_assignment(first)
    second = start(study, "w", platform="mturk", assignment_id="A2", submit_to="https://www.mturk.com")
    assert second.pk != first.pk
    seen_first = set(first.sequence.values_list("item_id", flat=True))
    assert not seen_first & set(second.sequence.values_list("item_id", flat=True))
    answer_all(second)
    finish_assignment(second)
    with pytest.raises(Refused, match="already taken part"):
        start(study, "w", platform="mturk", assignment_id="A3", submit_to="https://www.mturk.com")


def test_returning_with_the_same_platform_assignment_resumes_it():
    study = open_study()
    entry = {"platform": "prolific", "assignment_id": "session-1", "group": "S"}
    first = start(study, "pid", **entry)
    answer_all(first, limit=3)
    again = start(study, "pid", **entry)
    assert again.pk == first.pk
    assert next_item(again).position == 3


def test_a_judgment_for_an_item_of_another_assignment_is_refused():
    study = open_study()
    mine, theirs = start(study, "me"), start(study, "them")
    their_item = next_item(theirs)
    with pytest.raises(Refused) as refused:
        record_judgment(mine, their_item.token, answer_real=True, response_ms=500)
    assert refused.value.status == 404
    assert not Judgment.objects.exists()


def test_only_the_current_item_can_be_answered_and_only_once():
    study = open_study()
    assignment = start(study)
    current = next_item(assignment)
    later = assignment.sequence.get(position=1)
    with pytest.raises(Refused) as refused:
        record_judgment(assignment, later.token, answer_real=True, response_ms=500)
    assert refused.value.status == 409
    record_judgment(assignment, current.token, answer_real=True, response_ms=500)
    with pytest.raises(Refused, match="already been answered"):
        record_judgment(assignment, current.token, answer_real=False, response_ms=500)
    assert list(Judgment.objects.values_list("answer_real", flat=True)) == [True]


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_stores_one_judgment():
    study = open_study()
    assignment = start(study)
    item = next_item(assignment)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def submit(answer: bool) -> None:
        try:
            barrier.wait()
            outcomes.append(record_judgment(assignment, item.token, answer_real=answer, response_ms=400))
        except Refused as refused:
            outcomes.append(refused.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Judgment.objects.filter(assignment_item=item).count() == 1
    assert sorted(o for o in outcomes if isinstance(o, int)) == [409, 409, 409]
    assert next_item(Assignment.objects.get(pk=assignment.pk)).position == 1


def test_answers_faster_than_the_pace_are_refused(settings):
    settings.ANNOTATION_MIN_ANSWER_MS = 60_000
    assignment = start(open_study())
    Assignment.objects.filter(pk=assignment.pk).update(active_at=timezone.now() - timedelta(minutes=2))
    assert answer_all(assignment, limit=1) == 1
    with pytest.raises(Refused) as refused:
        answer_all(assignment, limit=1)
    assert refused.value.status == 429
    assert Judgment.objects.count() == 1


def test_feedback_reveals_the_truth_only_in_the_feedback_arm_and_after_storing():
    study = open_study(feedback="randomised")
    arms = {}
    for worker in ("a", "b", "c", "d"):
        assignment = start(study, worker)
        item = next_item(assignment)
        outcome = record_judgment(assignment, item.token, answer_real=True, response_ms=300)
        judgment = Judgment.objects.get(assignment_item=item)
        arms[worker] = assignment.annotator.feedback
        assert judgment.feedback_shown == outcome.feedback == assignment.annotator.feedback
        if outcome.feedback:
            assert outcome.truth_real == item.item.truth_real and outcome.correct == judgment.correct
        else:
            assert outcome.truth_real is None and outcome.correct is None
    assert sorted(arms.values()) == [False, False, True, True], "balanced randomisation"


def test_qualification_failure_ends_the_assignment_and_its_answers_never_count():
    study = open_study(require_qualification=True, qualification_items=4)
    assignment = start(study, "guesser")
    assert assignment.stage == Assignment.Stage.QUALIFICATION
    assert set(assignment.sequence.values_list("phase", flat=True)) == {"qualification"}
    answer_all(assignment, rule=lambda item: True)  # everything "real": 100% on real, 0% on generated
    assignment.refresh_from_db()
    assert assignment.stage == Assignment.Stage.DISQUALIFIED
    assert Annotator.objects.get(pk=assignment.annotator_id).qualification == "failed"
    done = finish_assignment(assignment)
    assert done.disqualified and done.code == study.completion_code
    with pytest.raises(Refused, match="did not pass"):
        start(study, "guesser")


def test_qualification_success_draws_the_test_sequence():
    study = open_study(require_qualification=True, qualification_items=4, items_per_assignment=6)
    assignment = start(study, "expert")
    answer_all(assignment, limit=4)
    assignment.refresh_from_db()
    assert assignment.stage == Assignment.Stage.TEST
    test_items = assignment.sequence.filter(phase="test")
    assert test_items.count() == 6
    assert list(test_items.order_by("position").values_list("position", flat=True)) == list(range(4, 10))
    assert not test_items.filter(item__purpose="qualification").exists()


def test_hype_time_exposures_follow_the_staircase_and_are_fixed_when_served():
    study = open_study(protocol="hype_time", items_per_assignment=6, block_size=3, judgments_per_item=1)
    assignment = start(study)
    rule_answers = [True, False, True, True, False, False]
    correct = []
    for want in rule_answers:
        item = next_item(Assignment.objects.get(pk=assignment.pk))
        assert next_item(Assignment.objects.get(pk=assignment.pk)).exposure_ms == item.exposure_ms
        correct.append(want == item.item.truth_real)
        record_judgment(assignment, item.token, answer_real=want, response_ms=600)
    shown = list(assignment.sequence.order_by("position").values_list("exposure_ms", "block"))
    blocks = [b for _, b in shown]
    assert blocks == [0, 0, 0, 1, 1, 1]
    # Each block is its own staircase (Zhou et al. 2019, §2.1: "All blocks begin at 500 ms").
    assert [e for e, _ in shown] == exposure_sequence(correct, blocks=blocks)
    assert shown[0][0] == shown[3][0] == START_MS
    within = [next_exposure(shown[i][0], correct[i]) for i in (0, 1, 3, 4)]
    assert within == [shown[i][0] for i in (1, 2, 4, 5)]


def test_attention_checks_are_mixed_in_and_misses_are_recorded():
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    study = create_study(**STUDY_TEXTS, name="attention", items_per_assignment=8, attention_per_assignment=2)
    set_study_pool(study, real)
    set_study_pool(study, fake)
    assert add_attention_items(study, obvious, count=4) == 4
    studies.open_study(study)
    assignment = start(study)
    sequence = assignment.sequence.select_related("item")
    assert sequence.count() == 10
    assert sequence.filter(item__purpose="attention").count() == 2
    answer_all(assignment, rule=lambda item: True)  # calls the obvious fakes real
    missed = Judgment.objects.filter(assignment_item__item__purpose="attention", correct=False).count()
    assert missed == 2


def test_reservations_of_an_idle_assignment_lapse():
    real, fake = ImagePoolFactory(kind="real", size=2), ImagePoolFactory(kind="generated", size=2)
    study = open_study([real, fake], items_per_assignment=4, judgments_per_item=1)
    idle = start(study, "idle")
    with pytest.raises(Refused, match="all the judgments"):
        start(study, "next")
    Assignment.objects.filter(pk=idle.pk).update(active_at=timezone.now() - timedelta(days=1))
    fresh = start(study, "next")
    assert set(fresh.sequence.values_list("item_id", flat=True)) == set(idle.sequence.values_list("item_id", flat=True))


def test_finish_needs_every_answer_and_then_ends_on_the_platform():
    study = open_study(items_per_assignment=2)
    assignment = start(
        study, "w", platform="mturk", assignment_id="ASG", group="HIT", submit_to="https://www.mturk.com"
    )
    with pytest.raises(Refused, match="every image"):
        finish_assignment(assignment)
    answer_all(assignment)
    done = finish_assignment(assignment)
    assert done.kind == "mturk" and done.url == "https://www.mturk.com/mturk/externalSubmit"
    assert done.fields["assignmentId"] == "ASG"
    assert finish_assignment(assignment) == done
    assert Assignment.objects.get(pk=assignment.pk).stage == Assignment.Stage.SUBMITTED


def test_turk_submit_to_must_be_mechanical_turk():
    study = open_study()
    with pytest.raises(Refused, match="turkSubmitTo"):
        start(study, "w", platform="mturk", assignment_id="A", submit_to="https://evil.example")
    assert not Assignment.objects.exists()


def test_a_closed_study_takes_nobody_new_but_lets_current_annotators_finish():
    study = open_study(items_per_assignment=2)
    assignment = start(study)
    close_study(study)
    with pytest.raises(Refused, match="not taking part"):
        start(study, "newcomer")
    answer_all(assignment)
    assert finish_assignment(assignment).code == study.completion_code
    assert AssignmentItem.objects.filter(assignment=assignment, judgment__isnull=False).count() == 2
