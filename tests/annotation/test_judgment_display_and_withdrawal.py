"""Each judgment records how its image was seen (viewport, device pixel ratio, key or tap), checked by the server
and exported; an annotator may withdraw, which ends the assignment cleanly."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.urls import reverse

from annotation.actions.completion import finish_assignment
from annotation.models import Assignment, Judgment
from testkit.factories import answer_all, open_study, start

pytestmark = pytest.mark.django_db

SEEN = {"viewport_width": 390, "viewport_height": 844, "device_pixel_ratio": 2.625, "input_kind": "tap"}


def post_answer(client: Any, assignment: Assignment, body: Any) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("annotation:answer", args=[assignment.token]), raw, content_type="application/json")


def current_token(client: Any, assignment: Assignment) -> str:
    return client.get(reverse("annotation:state", args=[assignment.token])).json()["item"]["token"]


def test_how_an_image_was_seen_is_stored_and_exported(staff_client):
    study = open_study(items_per_assignment=2)
    assignment = start(study)
    token = current_token(staff_client, assignment)
    body = {"item": token, "answer": "real", "response_ms": 640, **SEEN}
    assert post_answer(staff_client, assignment, body).status_code == 200
    # A client that does not report them (a script, an old page) still answers; the fields stay blank.
    token = current_token(staff_client, assignment)
    assert (
        post_answer(staff_client, assignment, {"item": token, "answer": "real", "response_ms": 700}).status_code == 200
    )
    first, second = Judgment.objects.order_by("assignment_item__position")
    assert (first.viewport_width, first.viewport_height, first.device_pixel_ratio, first.input_kind) == (
        390,
        844,
        2.625,
        "tap",
    )
    assert (second.viewport_width, second.device_pixel_ratio, second.input_kind) == (None, None, "")
    exported = staff_client.get(reverse("annotation:export_judgments", args=[study.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [(r["viewport_width"], r["viewport_height"], r["device_pixel_ratio"], r["input_kind"]) for r in rows] == [
        ("390", "844", "2.625", "tap"),
        ("", "", "", ""),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("viewport_width", "390"),
        ("viewport_width", 0),
        ("viewport_width", True),
        ("viewport_width", 390.5),
        ("viewport_height", 10**12),
        ("device_pixel_ratio", 0),
        ("device_pixel_ratio", -1),
        ("device_pixel_ratio", 65),
        ("device_pixel_ratio", "2"),
        ("device_pixel_ratio", False),
        ("device_pixel_ratio", 1e308 * 10),  # json.dumps writes Infinity, which Python's JSON reads back
        ("input_kind", "voice"),
        ("input_kind", ["key"]),
        ("input_kind", None),
    ],
)
def test_a_bad_display_value_is_refused_by_name_and_nothing_is_stored(client, field, value):
    assignment = start(open_study(items_per_assignment=2))
    token = current_token(client, assignment)
    response = post_answer(
        client, assignment, {"item": token, "answer": "real", "response_ms": 640, **SEEN, field: value}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}: expected")
    assert not Judgment.objects.exists()


def test_nan_as_the_pixel_ratio_is_refused(client):
    assignment = start(open_study(items_per_assignment=2))
    token = current_token(client, assignment)
    body = f'{{"item": "{token}", "answer": "real", "response_ms": 640, "device_pixel_ratio": NaN}}'
    response = post_answer(client, assignment, body)
    assert response.status_code == 400 and response.json()["error"].startswith("device_pixel_ratio")
    assert not Judgment.objects.exists()


def test_withdrawing_ends_the_assignment_and_frees_its_images(client, staff_client):
    study = open_study(items_per_assignment=4, judgments_per_item=1)
    assignment = start(study)
    answer_all(assignment, limit=1)
    url = reverse("annotation:withdraw", args=[assignment.token])
    response = client.post(url, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"kind": "code", "withdrawn": True}
    assignment.refresh_from_db()
    assert assignment.stage == Assignment.Stage.WITHDRAWN and assignment.finished_at is not None
    assert Judgment.objects.count() == 1, "the answer given stays"
    assert client.post(url).status_code == 200, "withdrawing again changes nothing"
    state = client.get(reverse("annotation:state", args=[assignment.token])).json()
    assert state["stage"] == "withdrawn" and state["item"] is None
    finish = client.post(reverse("annotation:finish", args=[assignment.token]))
    assert finish.status_code == 409, "a withdrawn assignment is not submitted"
    # Its three unanswered images go back to the others: a newcomer gets a sequence without them being reserved.
    other = start(study, worker="w2")
    assert other.sequence.count() == 4
    results = staff_client.get(reverse("annotation:results", args=[study.pk])).content.decode()
    assert "1 withdrawn by their annotators" in results


def test_a_submitted_assignment_cannot_be_withdrawn(client):
    assignment = start(open_study(items_per_assignment=2))
    answer_all(assignment)
    finish_assignment(assignment)
    response = client.post(reverse("annotation:withdraw", args=[assignment.token]))
    assert response.status_code == 409 and "ended already" in response.json()["error"]
    assert Assignment.objects.get().stage == Assignment.Stage.SUBMITTED


def test_withdraw_is_a_post_from_this_site_only(client):
    assignment = start(open_study(items_per_assignment=2))
    url = reverse("annotation:withdraw", args=[assignment.token])
    assert client.get(url).status_code == 405
    assert client.post(url, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert client.post(reverse("annotation:withdraw", args=["no-such-token"])).status_code == 404
    assert Assignment.objects.get().stage == Assignment.Stage.TEST
