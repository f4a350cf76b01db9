"""Every image gets the judgments asked for and no more, whichever path hands items out, however many annotators
start, qualify, leave and answer at once (threads over HTTP against PostgreSQL)."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.actions.answers import current_state, next_item, record_judgment
from annotation.actions.assignments import allocation
from annotation.actions.completion import finish_assignment
from annotation.actions.errors import Refused
from annotation.models import Annotator, Assignment, AssignmentItem, Judgment, StudyItem
from testkit.factories import ImagePoolFactory, answer_all, open_study, start

pytestmark = pytest.mark.django_db


def reserved(study: Any) -> dict[int, int]:
    """Per test item: judgments plus places in sequences being answered (what actions.assignments.allocation counts)."""
    return dict(StudyItem.objects.filter(study=study, purpose="test").annotate(n=allocation()).values_list("pk", "n"))


def judged(study: Any) -> dict[int, int]:
    return dict(
        StudyItem.objects.filter(study=study, purpose="test")
        .annotate(n=Count("assignments__judgment"))
        .values_list("pk", "n")
    )


def run_threads(target: Any, count: int) -> None:
    def wrapped(index: int) -> None:
        try:
            target(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def qualifying_study(**values: Any) -> Any:
    # 11 images a pool: 1 each to the qualification, 20 test images in all.
    pools = [ImagePoolFactory(kind="real", size=11), ImagePoolFactory(kind="generated", size=11)]
    return open_study(
        pools,
        require_qualification=True,
        qualification_items=2,
        qualification_threshold=0.5,
        items_per_assignment=4,
        judgments_per_item=1,
        **values,
    )


@pytest.mark.django_db(transaction=True)
def test_passers_of_a_qualification_drawing_together_never_overfill():
    study = qualifying_study()
    starts = [start(study, f"passer-{i}") for i in range(8)]
    barrier = threading.Barrier(8)

    def qualify(index: int) -> None:
        assignment = starts[index]
        first = next_item(Assignment.objects.get(pk=assignment.pk))
        record_judgment(assignment, first.token, answer_real=first.item.truth_real, response_ms=500)
        last = next_item(Assignment.objects.get(pk=assignment.pk))
        barrier.wait()
        record_judgment(assignment, last.token, answer_real=last.item.truth_real, response_ms=500)

    run_threads(qualify, 8)
    assert max(reserved(study).values()) <= 1
    for assignment in starts:
        answer_all(assignment)
    assert max(judged(study).values()) == 1
    assert sum(judged(study).values()) == 20  # 8 passers wanted 32 places; the 20 there were, each once
    stages = set(Assignment.objects.values_list("stage", flat=True))
    assert stages == {Assignment.Stage.COMPLETE}  # the passers left without images are done, and paid


def test_the_tail_of_a_study_draws_only_what_is_missing():
    real, fake = ImagePoolFactory(kind="real", size=10), ImagePoolFactory(kind="generated", size=10)
    study = open_study([real, fake], items_per_assignment=6, judgments_per_item=1)
    sizes = [start(study, f"w{i}").sequence.count() for i in range(4)]
    assert sizes == [6, 6, 6, 2]
    assert max(reserved(study).values()) == 1
    with pytest.raises(Refused, match="all the judgments"):
        start(study, "late")


def test_an_answer_whose_reservation_lapsed_and_went_to_another_is_not_counted_twice(client):
    real, fake = ImagePoolFactory(kind="real", size=2), ImagePoolFactory(kind="generated", size=2)
    study = open_study([real, fake], items_per_assignment=4, judgments_per_item=1)
    away = start(study, "away")
    shown = client.get(reverse("annotation:state", args=[away.token])).json()["item"]["token"]
    Assignment.objects.filter(pk=away.pk).update(active_at=timezone.now() - timedelta(days=1))
    other = start(study, "other")
    answer_all(other)
    body = json.dumps({"item": shown, "answer": "real", "response_ms": 700})
    late = client.post(reverse("annotation:answer", args=[away.token]), body, content_type="application/json")
    assert late.status_code == 409 and "someone else" in late.json()["error"]
    assert max(judged(study).values()) == 1
    state = client.get(reverse("annotation:state", args=[away.token])).json()
    assert state["item"] is None and state["stage"] == "complete"  # nothing left for them: they may finish
    assert client.post(reverse("annotation:finish", args=[away.token])).status_code == 200


def test_a_lapsed_sequence_swaps_taken_images_for_missing_ones_or_drops_them():
    real, fake = ImagePoolFactory(kind="real", size=3), ImagePoolFactory(kind="generated", size=3)
    study = open_study([real, fake], items_per_assignment=4, judgments_per_item=1)
    away = start(study, "away")
    mine = set(away.sequence.values_list("item_id", flat=True))
    Assignment.objects.filter(pk=away.pk).update(active_at=timezone.now() - timedelta(days=1))
    other = start(study, "other")  # 2 of each pool's 3: at least one of away's in each
    taken = mine & set(other.sequence.values_list("item_id", flat=True))
    assert len(taken) >= 2
    current_state(away.token)  # coming back: the sequence is repaired before an image is shown
    answered = answer_all(Assignment.objects.get(pk=away.pk))
    answer_all(other)
    assert set(judged(study).values()) == {1}, "each of the 6 images judged once: swapped in, or dropped"
    assert answered == 6 - 4
    assert not Judgment.objects.filter(assignment_item__assignment=away, assignment_item__item_id__in=taken).exists()
    positions = list(away.sequence.order_by("position").values_list("position", "trial"))
    assert positions == [(i, i) for i in range(answered)]


def test_arms_balance_over_annotators_who_take_part_not_those_who_left_at_zero():
    study = open_study(feedback="randomised", judgments_per_item=50)
    first = [start(study, f"early-{i}") for i in range(4)]
    with_feedback = [a for a in first if a.annotator.feedback]
    assert len(with_feedback) == 2
    # The feedback arm's two leave before their first judgment; the others answer one image each.
    Assignment.objects.filter(pk__in=[a.pk for a in with_feedback]).update(active_at=timezone.now() - timedelta(days=1))
    for assignment in first:
        if not assignment.annotator.feedback:
            answer_all(assignment, limit=1)
            Assignment.objects.filter(pk=assignment.pk).update(active_at=timezone.now() - timedelta(days=1))
    newcomers = [start(study, f"late-{i}").annotator.feedback for i in range(2)]
    assert newcomers == [True, True]


def test_progress_counts_judgments_of_wanted_and_annotators_per_arm(staff_client):
    from annotation.progress import study_progress

    study = open_study(feedback="randomised", items_per_assignment=4, judgments_per_item=2)
    done, busy = start(study, "done"), start(study, "busy")
    answer_all(done)
    finish_assignment(done)
    answer_all(busy, limit=1)
    progress = study_progress(study)
    assert (progress.collected, progress.wanted) == (5, 80 * 2)
    arms = {arm.condition: (arm.active, arm.finished) for arm in progress.arms}
    assert sum(active for active, _ in arms.values()) == 1 and sum(f for _, f in arms.values()) == 1
    page = staff_client.get(study.get_absolute_url()).content.decode()
    assert "5 of 160 test judgments wanted collected" in page
    listing = staff_client.get(reverse("admin:annotation_study_changelist")).content.decode()
    assert "5 / 160" in listing


@pytest.mark.django_db(transaction=True)
def test_concurrent_crowd_never_overfills_and_stores_every_acknowledged_answer_once(settings):
    """The property: annotators starting, failing or passing a qualification, leaving midway, coming back after
    their reservation lapsed, and answering, all at once over HTTP; afterwards no image holds more than its wanted
    judgments, and every answer the server acknowledged is stored, once."""
    settings.ANNOTATION_RESERVATION_MINUTES = 0.02  # 1.2 s: some sequences lapse and go to others meanwhile
    real, fake = ImagePoolFactory(kind="real", size=25), ImagePoolFactory(kind="generated", size=25)
    study = open_study(
        [real, fake],
        feedback="randomised",
        require_qualification=True,
        qualification_items=4,
        qualification_threshold=0.5,
        items_per_assignment=8,
        judgments_per_item=2,
    )
    acknowledged: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 12

    def annotator(client: Client, rng: random.Random, name: str) -> None:
        entry = {"PROLIFIC_PID": name, "STUDY_ID": "s", "SESSION_ID": f"{name}-session", "consent": "yes"}
        started = client.post(study.entry_path, entry)
        if started.status_code != 303:
            return  # the study is full, or refused this person
        token = started["Location"].rstrip("/").rsplit("/", 1)[-1]
        behaviour = rng.choice(["answer", "answer", "fail", "leave", "lapse"])
        while True:
            state = client.get(reverse("annotation:state", args=[token])).json()
            if state["item"] is None:
                client.post(reverse("annotation:finish", args=[token]))
                return
            if behaviour == "leave" and rng.random() < 0.2:
                return
            if behaviour == "lapse" and rng.random() < 0.2:
                time.sleep(1.3)
                behaviour = "answer"
            item = AssignmentItem.objects.select_related("item").get(token=state["item"]["token"])
            right = item.item.truth_real if behaviour != "fail" else not item.item.truth_real
            body = json.dumps({"item": item.token, "answer": "real" if right else "generated", "response_ms": 500})
            response = client.post(reverse("annotation:answer", args=[token]), body, content_type="application/json")
            if response.status_code == 200:
                with lock:
                    acknowledged.append(item.token)
            else:
                assert response.status_code == 409, response.content

    def crowd(index: int) -> None:
        rng = random.Random(index)
        n = 0
        while time.monotonic() < deadline:
            annotator(Client(), rng, f"p{index}-{n}")
            n += 1
            if Judgment.objects.filter(assignment_item__phase="test").count() >= 100:
                return  # every image has its judgments

    run_threads(crowd, 10)
    counts = judged(study)
    assert max(counts.values()) <= 2, "an image got more judgments than wanted"
    stored = Judgment.objects.filter(assignment_item__assignment__study=study)
    assert stored.count() == len(acknowledged) == len(set(acknowledged))
    assert set(stored.values_list("assignment_item__token", flat=True)) == set(acknowledged)
    assert Annotator.objects.filter(study=study, qualification="failed").exists()
    assert Assignment.objects.filter(Q(stage="submitted") | Q(stage="disqualified")).exists()
    assert sum(counts.values()) > 20, "the crowd should have done real work"
