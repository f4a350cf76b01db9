"""The state carries the current image's bytes (the answer's response the next item's), so that a judgment costs
one request: the very bytes the image address serves, of the item made current only, to its assignment only."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation import images
from annotation.models import Assignment, AssignmentItem
from testkit.factories import open_study, start

pytestmark = pytest.mark.django_db
ITEM_FIELDS = {"token", "src", "block", "exposure_ms", "image"}


def state(client: Any, assignment: Assignment) -> dict[str, Any]:
    response = client.get(reverse("annotation:state", args=[assignment.token]))
    assert response.status_code == 200, response.content
    return response.json()


def post_answer(client: Any, assignment: Assignment, token: str) -> Any:
    body = json.dumps({"item": token, "answer": "real", "response_ms": 900})
    return client.post(reverse("annotation:answer", args=[assignment.token]), body, content_type="application/json")


def carried(item: dict[str, Any]) -> bytes:
    return base64.b64decode(item["image"], validate=True)


def file_bytes(item: AssignmentItem) -> bytes:
    return images.study_image_path(item.item.study.public_id, item.item_id).read_bytes()


def test_the_state_carries_the_bytes_the_image_address_serves(client):
    assignment = start(open_study(items_per_assignment=6))
    item = state(client, assignment)["item"]
    assert set(item) == ITEM_FIELDS
    served = client.get(item["src"])
    assert served.status_code == 200 and carried(item) == served.content
    assert state(client, assignment)["item"]["image"] == item["image"], "a reload resumes at the same image"


def test_each_answer_carries_the_next_current_image_and_no_later_one(client):
    study = open_study(items_per_assignment=8, feedback="each")
    assignment = start(study)
    sequence = list(assignment.sequence.select_related("item__study").order_by("position"))
    current = state(client, assignment)["item"]
    for position, entry in enumerate(sequence):
        assert current["token"] == entry.token
        response = post_answer(client, assignment, current["token"])
        assert response.status_code == 200, response.content
        text = response.content.decode()
        made_current = file_bytes(sequence[position + 1]) if position + 1 < len(sequence) else b""
        for later in sequence[position + 2 :]:
            # Never an item beyond the one the answer makes current, by token or by bytes (unless the same pixels).
            assert later.token not in text, later.position
            if file_bytes(later) != made_current:
                assert base64.b64encode(file_bytes(later)).decode() not in text, later.position
        for secret in (entry.item.file, entry.item.pool.path, str(entry.item.pool.uid), "truth"):
            assert secret not in json.dumps(response.json()["state"])
        following = response.json()["state"]["item"]
        if position + 1 == len(sequence):
            assert following is None
            break
        assert set(following) == ITEM_FIELDS and following["token"] == sequence[position + 1].token
        assert carried(following) == client.get(following["src"]).content == file_bytes(sequence[position + 1])
        assert state(client, assignment)["item"] == following, "the answer's state is the one a reload gets"
        current = following


def test_a_stale_or_foreign_token_gets_no_image(client):
    study = open_study(items_per_assignment=6, judgments_per_item=5)
    one, two = start(study, "one"), start(study, "two")
    first = state(client, one)["item"]
    assert post_answer(client, one, first["token"]).status_code == 200
    stale = post_answer(client, one, first["token"])  # the answered image, sent again
    assert stale.status_code == 409 and set(stale.json()) == {"error"}
    foreign = post_answer(client, two, state(client, one)["item"]["token"])  # another assignment's current image
    assert foreign.status_code == 404 and set(foreign.json()) == {"error"}
    unknown = client.get(reverse("annotation:state", args=["x" * 43]))
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}
    never_shown = post_answer(client, one, "y" * 43)
    assert never_shown.status_code == 404 and set(never_shown.json()) == {"error"}


def test_the_bytes_come_from_the_byte_cache_at_no_statement_more(client):
    assignment = start(open_study(items_per_assignment=6))
    current = state(client, assignment)["item"]
    path = images.study_image_path(assignment.study.public_id, assignment.sequence.get(position=1).item_id)
    cached = images.image_bytes(path)
    path.write_bytes(b"not read again")  # the cache's copy is what is sent, not the disk's
    with CaptureQueriesContext(connection) as queries:
        response = post_answer(client, assignment, current["token"])
    assert response.status_code == 200
    assert carried(response.json()["state"]["item"]) == cached
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert not any("public_id" in sql and "WHERE ai.token" in sql for sql in statements), "no image lookup"
