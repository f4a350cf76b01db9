"""A study is checked before it opens (texts for annotators, pools that differ only in being real or generated),
annotators never see its internal name, and researchers choose pools by what they are and may preview the study
as an annotator without storing anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.actions import studies
from annotation.actions.errors import StudyError
from annotation.actions.studies import close_study, create_study, edit_study, set_study_pool
from annotation.models import Annotator, Assignment, Judgment, Study, StudyItem
from runs.models import Checkpoint, TrainingRun
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, StaffFactory, UserFactory, open_study

pytestmark = pytest.mark.django_db


def draft(pools: list[Any], **values: Any) -> Study:
    study = create_study(**{"name": "draft", **STUDY_TEXTS, "items_per_assignment": 10, **values})
    for pool in pools:
        set_study_pool(study, pool)
    return study


def test_real_fashion_mnist_against_generated_digits_is_refused_naming_the_pools_and_the_field():
    real = ImagePoolFactory(kind="real", dataset="fashion_mnist")
    fake = ImagePoolFactory(kind="generated", dataset="digits")
    study = draft([real, fake])
    with pytest.raises(StudyError) as refused:
        studies.open_study(study)
    message = str(refused.value)
    assert "pools differ in dataset" in message
    assert f"pool #{real.pk} (real) fashion_mnist" in message and f"pool #{fake.pk} (generated) digits" in message
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT
    assert not StudyItem.objects.filter(study=study).exists()
    # Mixing on purpose takes a written reason, kept with the study.
    edit_study(study, mixed_datasets_reason="digits as an obviously-fake control")
    assert studies.open_study(study).status == Study.Status.OPEN


def test_a_study_opens_only_with_a_public_title_instructions_and_consent():
    study = draft([ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")], title="", consent_text=" ")
    with pytest.raises(StudyError) as refused:
        studies.open_study(study)
    assert "title: the public title" in str(refused.value) and "consent_text: the consent text" in str(refused.value)
    assert "instructions" not in str(refused.value)
    edit_study(study, title="Clothes", consent_text="Stored under a pseudonym.")
    assert studies.open_study(study).is_open


def test_the_admin_open_action_says_why_a_study_cannot_open(staff_client):
    study = draft([ImagePoolFactory(kind="real", dataset="fashion_mnist"), ImagePoolFactory(kind="generated")])
    url = reverse("admin:annotation_study_changelist")
    response = staff_client.post(url, {"action": "open_studies", "_selected_action": [study.pk]}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert "Opened: 0 of 1." in messages
    assert any("pools differ in dataset" in m for m in messages)
    page = staff_client.get(reverse("admin:annotation_study_change", args=[study.pk])).content.decode()
    assert "pools differ in dataset" in page, "the study's page lists what keeps it from opening"


def test_annotators_never_see_the_internal_name(client):
    study = open_study(name="INTERNAL wgan-gp step 3000 vs real", title="Clothes: real or generated?")
    pages = [client.get(study.entry_path)]
    start = client.post(study.entry_path, {"consent": "yes"})
    pages.append(client.get(start["Location"]))
    close_study(study)
    pages.append(Client().post(study.entry_path, {"consent": "yes"}))  # a newcomer is told it is closed
    for page in pages:
        text = page.content.decode()
        assert "INTERNAL" not in text and "Clothes: real or generated?" in text


def test_pool_choices_name_their_dataset_run_checkpoint_and_size(staff_client):
    run = TrainingRun.objects.create(name="dcgan-digits", config={}, recipe="dcgan", dataset="digits", total_steps=9)
    checkpoint = Checkpoint.objects.create(run=run, step=1200, path="x")
    ImagePoolFactory(kind="generated", run=run, checkpoint=checkpoint, step=1200, dataset="digits")
    ImagePoolFactory(kind="real", dataset="fashion_mnist", split="test")
    page = staff_client.get(reverse("admin:annotation_study_add")).content.decode()
    assert f"generated digits, run #{run.pk} &#x27;dcgan-digits&#x27;, checkpoint step 1200, 8×8 L, 40 images" in page
    assert "real fashion_mnist, test split, 8×8 L, 40 images" in page


def test_feedback_duration_is_a_checked_setting_the_task_page_uses(client):
    with pytest.raises(StudyError, match="feedback_ms"):
        create_study(name="slow", feedback_ms=120_000)
    study = open_study(feedback="each", feedback_ms=0)
    task = client.get(client.post(study.entry_path, {"consent": "yes"})["Location"])
    config = json.loads(task.content.decode().split('id="task-config" type="application/json">')[1].split("<")[0])
    assert config["feedbackMs"] == 0 and config["platform"] == "code" and config["preview"] is False


# --- Preview as annotator ---------------------------------------------------------------------------


def preview_through(client: Any, study: Study) -> list[dict[str, Any]]:
    """Consent, then answer every image of the preview ("real"); returns each answer's response."""
    assert client.post(reverse("annotation:preview", args=[study.pk]), {"consent": "yes"}).status_code == 302
    assert client.get(reverse("annotation:preview_task", args=[study.pk])).status_code == 200
    state = client.get(reverse("annotation:preview_state", args=[study.pk])).json()
    answers = []
    while state["item"]:
        image = client.get(state["item"]["src"])
        assert image.status_code == 200 and image["Content-Type"] == "image/png"
        body = {"item": state["item"]["token"], "answer": "real", "response_ms": 500, "input_kind": "key"}
        response = client.post(
            reverse("annotation:preview_answer", args=[study.pk]), json.dumps(body), content_type="application/json"
        ).json()
        answers.append(response)
        state = response["state"]
    assert state["done"] == state["total"]
    return answers


def test_a_preview_of_a_draft_and_of_an_open_study_stores_nothing(staff_client):
    pools = [ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")]
    study = draft(pools, feedback="each", items_per_assignment=6)
    answers = preview_through(staff_client, study)
    assert len(answers) == 6 and all(a["feedback"]["truth"] in ("real", "generated") for a in answers)
    assert sum(a["feedback"]["truth"] == "real" for a in answers) == 3, "the study's real fraction"
    done = staff_client.post(reverse("annotation:preview_finish", args=[study.pk])).json()
    assert done["preview"] and done["code"] == study.completion_code
    opened = open_study(pools, feedback="randomised", items_per_assignment=4)
    preview_through(staff_client, opened)
    for model in (Annotator, Assignment, Judgment):
        assert not model.objects.exists(), f"a preview wrote {model.__name__} rows"
    assert not StudyItem.objects.filter(study=study).exists()


def test_a_preview_of_hype_time_runs_the_staircase(staff_client):
    pools = [ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")]
    study = draft(pools, protocol="hype_time", items_per_assignment=450)
    answers = preview_through(staff_client, study)
    exposures = [a["state"]["item"]["exposure_ms"] for a in answers[:-1]]
    assert len(answers) == 20 and all(a["feedback"] for a in answers)
    assert len(set(exposures)) > 1 and all(100 <= ms <= 1000 for ms in exposures)
    assert not Judgment.objects.exists()


def test_a_preview_serves_only_its_current_image_and_refuses_another(staff_client):
    study = draft([ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")])
    staff_client.post(reverse("annotation:preview", args=[study.pk]), {"consent": "yes"})
    state = staff_client.get(reverse("annotation:preview_state", args=[study.pk])).json()
    body = {"item": "not-the-one", "answer": "real", "response_ms": 500}
    url = reverse("annotation:preview_answer", args=[study.pk])
    assert staff_client.post(url, json.dumps(body), content_type="application/json").status_code == 409
    assert staff_client.get(reverse("annotation:preview_image", args=[study.pk, "not-the-one"])).status_code == 404
    assert staff_client.get(state["item"]["src"]).status_code == 200


def test_preview_is_for_staff_only(client):
    study = draft([ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")])
    url = reverse("annotation:preview", args=[study.pk])
    assert client.get(url)["Location"].startswith(reverse("admin:login"))
    client.force_login(UserFactory())
    assert client.post(url, {"consent": "yes"})["Location"].startswith(reverse("admin:login"))
    assert client.get(reverse("annotation:preview_state", args=[study.pk])).status_code == 302
    client.force_login(StaffFactory())
    assert client.get(url).status_code == 200


def test_a_preview_of_pools_that_cannot_open_says_why(staff_client):
    study = draft([ImagePoolFactory(kind="real")])
    response = staff_client.get(reverse("annotation:preview", args=[study.pk]))
    assert response.status_code == 409 and b"needs a real pool and at least one generated pool" in response.content
