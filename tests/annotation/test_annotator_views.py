"""The annotator's side over HTTP: entry links of MTurk, Prolific and invitations, the JSON API, and its guards."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.db.models import Count, Max, Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation import ratelimit
from annotation.actions import studies
from annotation.actions.studies import add_attention_items, close_study, create_study, set_study_pool
from annotation.models import Annotator, Assignment, Judgment
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, open_study, start

pytestmark = pytest.mark.django_db

MTURK = {
    "assignmentId": "ASG1",
    "hitId": "HIT1",
    "workerId": "WORKER1",
    "turkSubmitTo": "https://workersandbox.mturk.com",
}
PROLIFIC = {"PROLIFIC_PID": "pid-1", "STUDY_ID": "st-1", "SESSION_ID": "se-1"}


def entry_url(study: Any, params: dict[str, str] | None = None) -> str:
    return study.entry_path + (f"?{urlencode(params)}" if params else "")


def answer(client: Any, assignment: Assignment, token: str, value: str = "real", **extra: Any) -> Any:
    body = json.dumps({"item": token, "answer": value, "response_ms": 812})
    return client.post(
        reverse("annotation:answer", args=[assignment.token]), body, content_type="application/json", **extra
    )


def current(client: Any, assignment: Assignment) -> dict[str, Any]:
    return client.get(reverse("annotation:state", args=[assignment.token])).json()


def test_mturk_preview_shows_the_instructions_only(client):
    study = open_study(instructions="Look closely at each image.")
    response = client.get(entry_url(study, {**MTURK, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}))
    assert response.status_code == 200
    assert b"Look closely at each image." in response.content
    assert b"Accept the HIT to begin" in response.content
    assert b"<form" not in response.content
    assert not Assignment.objects.exists()


def test_mturk_entry_consents_starts_and_resumes(client):
    study = open_study()
    page = client.get(entry_url(study, MTURK))
    assert b'name="consent"' in page.content and b'value="ASG1"' in page.content
    refused = client.post(entry_url(study), MTURK)
    assert refused.status_code == 400 and not Assignment.objects.exists()
    started = client.post(entry_url(study), {**MTURK, "consent": "yes"})
    assignment = Assignment.objects.get()
    assert started.status_code == 303 and started["Location"] == assignment.get_absolute_url()
    assert (assignment.external_id, assignment.external_group) == ("ASG1", "HIT1")
    assert assignment.annotator.platform == "mturk" and assignment.annotator.external_id == "WORKER1"
    again = client.get(entry_url(study, MTURK))
    assert again.status_code == 302 and again["Location"] == assignment.get_absolute_url()


def test_the_task_page_may_be_framed_by_mturk_only(client):
    assignment = start(open_study())
    response = client.get(assignment.get_absolute_url())
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://www.mturk.com https://workersandbox.mturk.com" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_prolific_entry_ends_with_the_completion_redirect(client):
    study = open_study(items_per_assignment=2)
    client.post(entry_url(study), {**PROLIFIC, "consent": "yes"})
    assignment = Assignment.objects.get()
    assert assignment.annotator.platform == "prolific" and assignment.external_id == "se-1"
    for _ in range(2):
        state = current(client, assignment)
        assert answer(client, assignment, state["item"]["token"]).status_code == 200
    assert current(client, assignment)["stage"] == "complete"
    done = client.post(reverse("annotation:finish", args=[assignment.token]), content_type="application/json").json()
    assert done["kind"] == "prolific"
    assert done["url"] == f"https://app.prolific.com/submissions/complete?cc={study.completion_code}"


def test_invitation_link_remembers_its_visitor(client):
    study = open_study()
    client.post(entry_url(study), {"consent": "yes"})
    assignment = Assignment.objects.get()
    assert assignment.annotator.platform == "invite"
    again = client.get(entry_url(study))
    assert again.status_code == 302 and again["Location"] == assignment.get_absolute_url()


def test_a_draft_study_has_no_entry_and_a_closed_one_takes_nobody(client):
    draft = create_study(**STUDY_TEXTS, name="draft")
    assert client.get(draft.entry_path).status_code == 404
    study = open_study()
    close_study(study)
    response = client.post(entry_url(study), {"consent": "yes"})
    assert response.status_code == 410 and not Assignment.objects.exists()


def test_a_reload_resumes_at_the_same_item(client):
    assignment = start(open_study())
    first = current(client, assignment)
    assert current(client, assignment) == first
    answer(client, assignment, first["item"]["token"])
    second = current(client, assignment)
    assert second["item"]["token"] != first["item"]["token"]
    assert second["done"] == 1 and current(client, assignment) == second


def test_another_annotators_item_is_refused(client):
    study = open_study()
    mine, theirs = start(study, "me"), start(study, "them")
    their_token = current(client, theirs)["item"]["token"]
    response = answer(client, mine, their_token)
    assert response.status_code == 404
    assert not Judgment.objects.exists()


def test_a_second_answer_to_the_same_item_is_refused(client):
    assignment = start(open_study())
    token = current(client, assignment)["item"]["token"]
    assert answer(client, assignment, token, "real").status_code == 200
    response = answer(client, assignment, token, "generated")
    assert response.status_code == 409
    assert list(Judgment.objects.values_list("answer_real", flat=True)) == [True]


def test_an_unknown_assignment_token_finds_nothing(client):
    start(open_study())
    assert client.get(reverse("annotation:state", args=["not-a-token"])).status_code == 404
    assert client.get(reverse("annotation:task", args=["not-a-token"])).status_code == 404


def test_malformed_answers_are_refused(client):
    assignment = start(open_study())
    token = current(client, assignment)["item"]["token"]
    url = reverse("annotation:answer", args=[assignment.token])
    for body in (
        "not json",
        json.dumps({"item": token, "answer": "maybe", "response_ms": 5}),
        json.dumps({"item": token}),
    ):
        assert client.post(url, body, content_type="application/json").status_code == 400
    assert not Judgment.objects.exists()


def test_posts_from_another_site_are_refused(client):
    study = open_study()
    forged = client.post(entry_url(study), {"consent": "yes"}, HTTP_ORIGIN="https://evil.example")
    assert forged.status_code == 403 and not Assignment.objects.exists()
    assignment = start(study)
    token = current(client, assignment)["item"]["token"]
    assert answer(client, assignment, token, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert answer(client, assignment, token, HTTP_ORIGIN="http://testserver").status_code == 200


def test_posts_are_rate_limited_per_address(client, settings):
    settings.ANNOTATION_RATE_LIMIT = 3
    study = open_study()
    while True:
        # Addresses of this attempt only: the counters live in the shared Redis for a minute.
        first, second = f"198.51.100.1-{uuid.uuid4()}", f"198.51.100.2-{uuid.uuid4()}"
        window = time.time() // ratelimit.WINDOW_SECONDS
        statuses = [client.post(entry_url(study), {"consent": "no"}, REMOTE_ADDR=first).status_code for _ in range(5)]
        if time.time() // ratelimit.WINDOW_SECONDS == window:  # else a new window began halfway: try again
            break
    assert statuses == [400, 400, 400, 429, 429]
    assert client.post(entry_url(study), {"consent": "no"}, REMOTE_ADDR=second).status_code == 400


def test_answers_are_paced_per_assignment(client, settings):
    settings.ANNOTATION_MIN_ANSWER_MS = 60_000
    assignment = start(open_study())
    response = answer(client, assignment, current(client, assignment)["item"]["token"])
    assert response.status_code == 429 and response["Retry-After"]
    assert not Judgment.objects.exists()


def test_study_text_is_escaped_not_rendered(client):
    study = open_study(
        name="<b>bold</b>", instructions="<script>alert(1)</script>\n\nSecond paragraph", consent_text="<img src=x>"
    )
    page = client.get(entry_url(study)).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x>" not in page and "<b>bold</b>" not in page
    assert "<p>Second paragraph</p>" in page
    task_page = client.get(start(study).get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in task_page


def test_qualification_failure_is_reported_and_finishes_with_the_code(client):
    study = open_study(require_qualification=True, qualification_items=2)
    assignment = start(study)
    for _ in range(2):
        state = current(client, assignment)
        assert state["phase"] == "qualification"
        response = answer(client, assignment, state["item"]["token"], "real").json()
        assert response["feedback"] is None
    assert response["state"]["stage"] == "disqualified" and response["state"]["item"] is None
    done = client.post(reverse("annotation:finish", args=[assignment.token]), content_type="application/json").json()
    assert done == {"kind": "code", "code": study.completion_code, "url": "", "fields": {}, "disqualified": True}
    assert Annotator.objects.get().qualification == "failed"


def test_the_task_page_and_its_api_take_as_many_queries_for_long_sequences_as_short(client):
    counts = []
    for length in (4, 40):
        assignment = start(open_study(items_per_assignment=length), f"w{length}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(assignment.get_absolute_url()).status_code == 200
            token = current(client, assignment)["item"]["token"]
            assert answer(client, assignment, token).status_code == 200
        counts.append(len(_statements(queries)))
    assert counts[0] == counts[1], counts


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements requests ran, less those of the test's own transaction (savepoints) and those run once per
    database connection (the hot path's statements are prepared on first use: annotation.actions.hot_sql.run)."""
    return [
        q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"] and not q["sql"].startswith("PREPARE")
    ]


def test_the_annotators_hot_path_runs_a_few_statements(client):
    """task.js's request for each judgment (the answer, whose response holds the next state and its image's
    bytes), the state of a load or reload, and the image address (the fallback): a query added to them shows
    here, before it shows under load."""
    assignment = start(open_study(items_per_assignment=6))
    with CaptureQueriesContext(connection) as queries:
        state = current(client, assignment)
    assert len(_statements(queries)) <= 3, _statements(queries)  # the assignment, the items ahead, the first serve
    with CaptureQueriesContext(connection) as queries:
        assert current(client, assignment) == state
    assert len(_statements(queries)) <= 2, _statements(queries)  # served already: nothing to write
    with CaptureQueriesContext(connection) as queries:
        assert client.get(state["item"]["src"]).status_code == 200
    assert len(_statements(queries)) <= 1, _statements(queries)
    with CaptureQueriesContext(connection) as queries:
        response = answer(client, assignment, state["item"]["token"], HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200
    # The assignment locked, the items ahead, the judgment, the assignment moved, the next item served.
    assert len(_statements(queries)) <= 5, _statements(queries)
    assert response.json()["state"] == current(client, assignment)


def _counted(assignment: Assignment, phase: str) -> dict[str, int]:
    """The progress as the database counts it (what the state's figures must always equal)."""
    in_phase = Q(phase=phase)
    counts = assignment.sequence.aggregate(
        total=Count("pk", filter=in_phase),
        done=Count("judgment", filter=in_phase),
        blocks=Max("block", filter=in_phase),
        answered=Count("judgment"),
    )
    return {**counts, "blocks": (counts["blocks"] or 0) + 1}


def test_the_progress_of_every_state_is_what_the_database_counts(client):
    """Through a qualification, its end (the test drawn), blocks and attention checks, and the end: each answer's
    state is the state a reload then reads, with the counts of the sequence's rows."""
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    study = create_study(
        **STUDY_TEXTS,
        name="progress",
        protocol="hype_time",
        items_per_assignment=6,
        block_size=3,
        attention_per_assignment=2,
        require_qualification=True,
        qualification_items=4,
    )
    set_study_pool(study, real)
    set_study_pool(study, fake)
    add_attention_items(study, obvious, count=2)
    studies.open_study(study)
    assignment = start(study)
    state = current(client, assignment)
    phases = []
    while state["item"] is not None:
        phases.append(state["phase"])
        counted = _counted(assignment, state["phase"])
        assert {name: state[name] for name in counted} == counted, state
        # Answered as its truth: the qualification passes.
        truth = assignment.sequence.select_related("item").get(token=state["item"]["token"]).item.truth_real
        response = answer(client, assignment, state["item"]["token"], "real" if truth else "generated")
        assert response.status_code == 200
        state = response.json()["state"]
        assert state == current(client, assignment)
    assert phases == ["qualification"] * 4 + ["test"] * 8
    assert state["stage"] == "complete"
    assert {name: state[name] for name in ("done", "total", "answered", "blocks")} == _counted(assignment, "test")
