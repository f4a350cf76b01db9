"""Admin: a study is created with its pools through the services, opened with one action, exported, and given
attention checks."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from annotation.models import AttentionItem, Study, StudyPool
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, answer_all, open_study, start

pytestmark = pytest.mark.django_db


def inline(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{name}": value for name, value in row.items()})
    return data


def study_form(**values: Any) -> dict[str, Any]:
    return {
        "name": "From admin",
        "title": "Real or generated?",
        "protocol": "hype_infinity",
        "instructions": "Tell real from generated.",
        "consent_text": "Stored under a pseudonym.",
        "feedback_ms": "900",
        "completion_code": "CODE42",
        "feedback": "none",
        "real_fraction": "",
        "items_per_assignment": "",
        "block_size": "",
        "judgments_per_item": "3",
        "attention_per_assignment": "0",
        "max_assignments_per_annotator": "1",
        "qualification_items": "100",
        "qualification_threshold": "0.65",
        **values,
    }


def test_a_study_is_created_with_its_pools_and_the_protocols_standard(staff_client):
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    data = {
        **study_form(),
        **inline(
            "study_pools", [{"pool": real.pk, "weight": "1"}, {"pool": fake.pk, "weight": "1", "top_percent": ""}]
        ),
    }
    response = staff_client.post(reverse("admin:annotation_study_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    study = Study.objects.get()
    assert (study.name, study.protocol, study.items_per_assignment, study.real_fraction) == (
        "From admin",
        "hype_infinity",
        100,
        0.5,
    )
    assert study.created_by is not None
    assert set(StudyPool.objects.filter(study=study).values_list("pool_id", flat=True)) == {real.pk, fake.pk}


def test_the_form_refuses_a_design_the_protocol_cannot_run(staff_client):
    response = staff_client.post(
        reverse("admin:annotation_study_add"), {**study_form(protocol="hype_time"), **inline("study_pools", [])}
    )
    assert response.status_code == 200
    assert "requires feedback" in str(response.context["adminform"].form.errors)
    assert not Study.objects.exists()


def test_open_and_close_actions(staff_client):
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    from annotation.actions.studies import create_study, set_study_pool

    ready = create_study(**STUDY_TEXTS, name="ready", items_per_assignment=10)
    set_study_pool(ready, real)
    set_study_pool(ready, fake)
    empty = create_study(**STUDY_TEXTS, name="no pools")
    url = reverse("admin:annotation_study_changelist")
    response = staff_client.post(url, {"action": "open_studies", "_selected_action": [ready.pk, empty.pk]}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert "Opened: 1 of 2." in messages
    assert any("needs a real pool" in m for m in messages)
    assert Study.objects.get(pk=ready.pk).status == "open" and Study.objects.get(pk=empty.pk).status == "draft"
    staff_client.post(url, {"action": "close_studies", "_selected_action": [ready.pk]})
    assert Study.objects.get(pk=ready.pk).status == "closed"


def test_export_action_streams_the_judgments(staff_client):
    study = open_study(items_per_assignment=4)
    answer_all(start(study))
    response = staff_client.post(
        reverse("admin:annotation_study_changelist"), {"action": "export_judgments", "_selected_action": [study.pk]}
    )
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 4 and lines[0].startswith("study,condition,annotator")


def test_attention_checks_are_added_from_the_study_and_listed(staff_client):
    study = open_study(items_per_assignment=4)
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    url = reverse("admin:annotation_study_attention", args=[study.pk])
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, {"pool": obvious.pk, "files": "", "count": "3"})
    assert response.status_code == 302
    assert AttentionItem.objects.filter(study=study, purpose="attention", truth_real=False).count() == 3
    listing = staff_client.get(reverse("admin:annotation_attentionitem_changelist")).content.decode()
    assert listing.count(reverse("annotation:item_image", args=[AttentionItem.objects.first().pk])) == 1


def test_edits_after_opening_are_limited_to_the_name_and_sharing(staff_client):
    study = open_study(items_per_assignment=4)
    page = staff_client.get(reverse("admin:annotation_study_change", args=[study.pk]))
    form = page.context["adminform"].form
    assert list(form.fields) == ["name", "shared_with"]
    assert study.entry_path in page.content.decode()


def test_annotator_list_shows_pseudonyms_and_counts(staff_client):
    study = open_study(items_per_assignment=4)
    assignment = start(study, "worker-7")
    answer_all(assignment)
    page = staff_client.get(reverse("admin:annotation_annotator_changelist")).content.decode()
    assert assignment.annotator.pseudonym in page


def test_a_drafts_design_and_pools_change_through_the_services(staff_client):
    from annotation.actions.studies import create_study, set_study_pool

    real, fake, other = (ImagePoolFactory(kind=k) for k in ("real", "generated", "generated"))
    study = create_study(**STUDY_TEXTS, name="draft", items_per_assignment=10)
    kept = set_study_pool(study, real)
    dropped = set_study_pool(study, fake)
    rows = [
        {"id": kept.pk, "study": study.pk, "pool": real.pk, "weight": "2"},
        {"id": dropped.pk, "study": study.pk, "pool": fake.pk, "weight": "1", "DELETE": "on"},
        {"study": study.pk, "pool": other.pk, "weight": "1", "top_percent": ""},
    ]
    data = {**study_form(name="renamed", protocol="salimans", items_per_assignment="12", real_fraction="0.5")}
    data.update(inline("study_pools", rows, initial=2))
    response = staff_client.post(reverse("admin:annotation_study_change", args=[study.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    study.refresh_from_db()
    assert (study.name, study.items_per_assignment) == ("renamed", 12)
    pools = dict(StudyPool.objects.filter(study=study).values_list("pool_id", "weight"))
    assert pools == {real.pk: 2.0, other.pk: 1.0}


def test_blank_feedback_takes_the_protocols_and_only_drafts_can_be_deleted(staff_client):
    response = staff_client.post(
        reverse("admin:annotation_study_add"),
        {**study_form(protocol="hype_time", feedback=""), **inline("study_pools", [])},
    )
    assert response.status_code == 302
    draft = Study.objects.get()
    assert (draft.feedback, draft.items_per_assignment, draft.block_size) == ("each", 450, 150)
    opened = open_study(items_per_assignment=4)
    url = reverse("admin:annotation_study_changelist")
    staff_client.post(url, {"action": "delete_drafts", "_selected_action": [draft.pk, opened.pk]})
    assert list(Study.objects.values_list("pk", flat=True)) == [opened.pk]
    assert (
        staff_client.post(reverse("admin:annotation_study_delete", args=[opened.pk]), {"post": "yes"}).status_code
        == 403
    )


def test_a_study_is_shared_with_the_groups_chosen_in_the_admin(staff_client):
    from django.contrib.auth.models import Group

    lab = Group.objects.create(name="lab")
    data = {**study_form(shared_with=[str(lab.pk)]), **inline("study_pools", [])}
    assert staff_client.post(reverse("admin:annotation_study_add"), data).status_code == 302
    assert list(Study.objects.get().shared_with.all()) == [lab]
    opened = open_study(items_per_assignment=4)
    other = Group.objects.create(name="other lab")
    change = {"name": opened.name, "shared_with": [str(other.pk)], **inline("study_pools", [], initial=0)}
    response = staff_client.post(reverse("admin:annotation_study_change", args=[opened.pk]), change)
    assert response.status_code == 302
    assert list(Study.objects.get(pk=opened.pk).shared_with.all()) == [other]  # an open study's sharing may change
