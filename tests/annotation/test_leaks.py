"""Nothing but the pixels tells real from generated: opaque image URLs, identical encoding and headers, and no
truth in the page, its script or the API before the answer is stored."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from annotation import images
from annotation.actions import studies
from annotation.actions.errors import StudyError
from annotation.actions.studies import add_attention_items, create_study, set_study_pool
from annotation.models import Assignment, AssignmentItem, Judgment, StudyItem
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, foreign_pool, open_study, start

pytestmark = pytest.mark.django_db
# Headers whose values may differ between two images (the bytes differ, so their count does).
PER_IMAGE = {"Content-Length"}


def state(client: Any, assignment: Assignment) -> dict[str, Any]:
    return client.get(reverse("annotation:state", args=[assignment.token])).json()


def answer(client: Any, assignment: Assignment, token: str, value: str) -> dict[str, Any]:
    body = json.dumps({"item": token, "answer": value, "response_ms": 900})
    response = client.post(reverse("annotation:answer", args=[assignment.token]), body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def walk(client: Any, assignment: Assignment) -> list[tuple[dict[str, Any], AssignmentItem]]:
    """Every state the page sees before each answer, with the item it stands for (looked up server-side)."""
    seen = []
    while (current := state(client, assignment))["item"]:
        item = AssignmentItem.objects.select_related("item__pool").get(token=current["item"]["token"])
        seen.append((current, item))
        answer(client, assignment, current["item"]["token"], "real")
    return seen


def test_image_urls_are_opaque_and_per_assignment(client):
    study = open_study(items_per_assignment=10, judgments_per_item=5)
    one, two = start(study, "one"), start(study, "two")
    for current, item in walk(client, one):
        token, src = current["item"]["token"], current["item"]["src"]
        assert src == f"/s/i/{token}" and len(token) >= 32
        for revealing in (
            item.item.file,
            item.item.file.removesuffix(".png"),
            str(item.item.pool.uid),
            item.item.pool.path,
        ):
            assert revealing not in src
    shared = set(one.sequence.values_list("item_id", flat=True)) & set(two.sequence.values_list("item_id", flat=True))
    for item_id in shared:
        tokens = AssignmentItem.objects.filter(item_id=item_id).values_list("token", flat=True)
        assert len(set(tokens)) == len(tokens), "the same image must have a different URL in each assignment"


def test_real_and_generated_images_are_served_alike(client):
    study = open_study(items_per_assignment=10)
    assignment = start(study)
    responses = {}
    for current, item in walk(client, assignment):
        response = client.get(current["item"]["src"])
        assert response.status_code == 200
        responses.setdefault(item.item.truth_real, []).append((response, item))
    assert set(responses) == {True, False}
    header_sets = {
        tuple(sorted((name, value) for name, value in response.headers.items() if name not in PER_IMAGE))
        for group in responses.values()
        for response, _ in group
    }
    assert len(header_sets) == 1, f"headers differ between images: {header_sets}"
    headers = dict(next(iter(header_sets)))
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "private, no-store"
    for leaky in ("Last-Modified", "ETag", "Content-Disposition", "Expires"):
        assert leaky not in headers
    layouts = set()
    for group in responses.values():
        for response, item in group:
            path = images.study_image_path(item.item.study.public_id, item.item_id)
            assert response.content == path.read_bytes()
            layouts.add(images.png_layout(path))
    assert len(layouts) == 1, "real and generated images must share one encoding"
    (layout,) = layouts
    assert layout.chunks == ("IHDR", "IDAT", "IEND"), "no metadata chunk may say where an image comes from"


def test_an_image_is_served_only_once_it_is_the_current_one(client):
    assignment = start(open_study())
    state(client, assignment)
    future = assignment.sequence.get(position=3)
    assert client.get(reverse("annotation:image", args=[future.token])).status_code == 404
    assert client.get(reverse("annotation:image", args=["guess"])).status_code == 404


def test_the_state_is_the_same_for_real_and_generated_images(client):
    study = open_study(items_per_assignment=10)
    assignment = start(study)
    masked = {}
    for current, item in walk(client, assignment):
        text = json.dumps(current)
        for revealing in (item.item.file, str(item.item.pool.uid), item.item.pool.path):
            assert revealing not in text
        shape = {
            **current,
            "done": None,
            "answered": None,
            "item": {**current["item"], "token": None, "src": None, "image": None},
        }
        masked.setdefault(item.item.truth_real, set()).add(json.dumps(shape, sort_keys=True))
    assert masked[True] == masked[False] and len(masked[True]) == 1


def test_the_page_and_its_script_hold_no_truth(client):
    study = open_study(items_per_assignment=6)
    assignment = start(study)
    page = client.get(assignment.get_absolute_url()).content.decode()
    script = Path(finders.find("annotation/task.js")).read_text()
    for item in StudyItem.objects.filter(study=study).select_related("pool"):
        for revealing in (item.file, str(item.pool.uid), item.pool.path):
            assert revealing not in page and revealing not in script
    for entry in assignment.sequence.all():
        assert entry.token not in page, "images are named only by the API, one at a time"


def test_without_feedback_answers_reveal_nothing(client):
    study = open_study(items_per_assignment=6, feedback="none")
    assignment = start(study)
    responses = []
    while (current := state(client, assignment))["item"]:
        responses.append(answer(client, assignment, current["item"]["token"], "generated"))
    assert all(r["feedback"] is None for r in responses)
    assert {tuple(sorted(r)) for r in responses} == {("feedback", "state", "stored")}


def test_with_feedback_the_truth_comes_after_the_judgment_is_stored(client):
    study = open_study(items_per_assignment=6, feedback="each")
    assignment = start(study)
    while (current := state(client, assignment))["item"]:
        token = current["item"]["token"]
        result = answer(client, assignment, token, "real")
        judgment = Judgment.objects.select_related("assignment_item__item").get(assignment_item__token=token)
        truth = judgment.assignment_item.item.truth_real
        assert result["feedback"] == {"correct": truth, "truth": "real" if truth else "generated"}
        assert judgment.feedback_shown


def test_attention_checks_look_like_any_other_item(client):
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    study = create_study(**STUDY_TEXTS, name="a", items_per_assignment=6, attention_per_assignment=2)
    set_study_pool(study, real)
    set_study_pool(study, fake)
    add_attention_items(study, obvious, count=2)
    studies.open_study(study)
    shapes = {}
    for current, item in walk(client, start(study)):
        shape = {
            **current,
            "done": None,
            "answered": None,
            "item": {**current["item"], "token": None, "src": None, "image": None},
        }
        shapes.setdefault(item.item.purpose, set()).add(json.dumps(shape, sort_keys=True))
    assert shapes["attention"] == shapes["test"]


def test_images_of_pools_from_other_encoders_are_served_as_a_function_of_their_pixels(client):
    import numpy as np
    from PIL import Image

    from gan_engine.pools import encode_png

    real = foreign_pool("zlib9-text", "real", 40, compress_level=9)
    palette = foreign_pool("palette", "generated", 40, mode="P", compress_level=1)
    study = open_study([real, palette], items_per_assignment=10)
    layouts, served = set(), 0
    for current, item in walk(client, start(study)):
        response = client.get(current["item"]["src"])
        original = images.image_path(item.item.pool, item.item.file)
        with Image.open(original) as image:
            pixels = np.asarray(image.convert("RGB"))  # a palette is colour: the whole study is served as RGB
        assert response.content == encode_png(pixels), "the bytes must be the one encoder's for these pixels"
        layouts.add(images.png_layout(images.study_image_path(study.public_id, item.item_id)))
        served += 1
    assert served == 10 and len(layouts) == 1
    (layout,) = layouts
    assert layout.chunks == ("IHDR", "IDAT", "IEND") and layout.colour_type == 2


def test_grey_and_colour_pools_are_served_in_one_mode():
    grey, colour = ImagePoolFactory(kind="real"), foreign_pool("rgb", "generated", 40, mode="RGB")
    study = open_study([grey, colour], items_per_assignment=10)
    modes = {
        images.png_layout(images.study_image_path(study.public_id, pk)).colour_type
        for pk in StudyItem.objects.filter(study=study).values_list("pk", flat=True)
    }
    assert modes == {2}  # RGB for all: a grey image's pixels are unchanged as R = G = B


def test_open_refuses_what_re_encoding_cannot_hide_naming_the_pool_and_field():
    see_through = foreign_pool("alpha", "generated", 40, mode="RGBA", alpha=128)
    study = create_study(**STUDY_TEXTS, name="alpha", items_per_assignment=10)
    set_study_pool(study, ImagePoolFactory(kind="real"))
    set_study_pool(study, see_through)
    with pytest.raises(StudyError, match=rf"pool {re.escape(str(see_through))}: .* \(field: alpha\)"):
        studies.open_study(study)
    assert not StudyItem.objects.filter(study=study).exists()
