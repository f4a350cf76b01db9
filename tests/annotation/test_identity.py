"""Nobody enters someone else's assignment: attacks over HTTP with a platform id typed into the link, a forged
consent, a tampered cookie, and another researcher's staff account."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from annotation.actions import studies
from annotation.actions.assignments import Entry, start_assignment
from annotation.actions.studies import create_study, set_study_pool
from annotation.models import Assignment, StudyItem
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, UserFactory, answer_all, open_study

pytestmark = pytest.mark.django_db

MTURK = {"assignmentId": "ASG1", "hitId": "HIT1", "workerId": "VICTIM", "turkSubmitTo": "https://www.mturk.com"}
PROLIFIC = {"PROLIFIC_PID": "victim-pid", "STUDY_ID": "st-1", "SESSION_ID": "victim-session"}


def entry(study: Any, params: dict[str, str] | None = None) -> str:
    return study.entry_path + (f"?{urlencode(params)}" if params else "")


def consent(client: Client, study: Any, params: dict[str, str]) -> Any:
    return client.post(entry(study), {**params, "consent": "yes"})


def finish(client: Client, assignment: Assignment) -> Any:
    return client.post(reverse("annotation:finish", args=[assignment.token]), content_type="application/json")


def test_a_platform_id_alone_resumes_nothing():
    study = open_study()
    victim = Client()
    consent(victim, study, MTURK)
    consent(victim, study, PROLIFIC)
    tokens = list(Assignment.objects.values_list("token", flat=True))
    assert len(tokens) == 2
    attacker = Client()
    for params in (
        {"assignmentId": "", "workerId": "VICTIM"},
        {"assignmentId": "GUESS", "workerId": "VICTIM", "hitId": "HIT1"},
        {"PROLIFIC_PID": "victim-pid"},
        {"PROLIFIC_PID": "victim-pid", "SESSION_ID": "guess"},
    ):
        page = attacker.get(entry(study, params))
        assert page.status_code == 200, params  # the consent form: nothing resumed
        assert not any(token in page.content.decode() for token in tokens)
    refused = consent(attacker, study, {"PROLIFIC_PID": "victim-pid"})
    assert refused.status_code == 409
    assert not any(token in refused.content.decode() + refused.get("Location", "") for token in tokens)


def test_starting_anew_with_someone_elses_worker_id_changes_nothing_of_theirs():
    study = open_study(items_per_assignment=2)
    victim = Client()
    consent(victim, study, MTURK)
    theirs = Assignment.objects.get()
    attacker = Client()
    forged = consent(attacker, study, {**MTURK, "assignmentId": "ATTACKER-ASG"})
    assert forged.status_code == 409
    assert Assignment.objects.count() == 1
    theirs.refresh_from_db()
    assert theirs.stage == Assignment.Stage.TEST
    answer_all(theirs)
    done = finish(victim, theirs)
    assert done.status_code == 200 and done.json()["code"] == study.completion_code


def test_the_browser_that_holds_an_assignment_may_replace_it_with_a_new_hit():
    study = open_study(items_per_assignment=2)
    worker = Client()
    consent(worker, study, MTURK)
    returned = Assignment.objects.get()
    started = consent(worker, study, {**MTURK, "assignmentId": "ASG2"})
    assert started.status_code == 303
    returned.refresh_from_db()
    assert returned.stage == Assignment.Stage.ABANDONED
    assert Assignment.objects.get(external_id="ASG2").stage == Assignment.Stage.TEST


def test_the_assignment_cookie_is_signed_httponly_samesite_and_scoped_to_the_entry_link():
    study = open_study()
    worker = Client()
    response = consent(worker, study, PROLIFIC)
    cookie = response.cookies[f"annotation_{study.public_id}"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == study.entry_path
    assignment = Assignment.objects.get()
    # The same browser comes back without its session id: the cookie is its proof.
    back = worker.get(entry(study, {"PROLIFIC_PID": "victim-pid"}))
    assert back.status_code == 302 and back["Location"] == assignment.get_absolute_url()
    # A cookie naming the assignment but not signed by the server proves nothing.
    forger = Client()
    forger.cookies[f"annotation_{study.public_id}"] = assignment.token
    assert forger.get(entry(study, {"PROLIFIC_PID": "victim-pid"})).status_code == 200
    signed_elsewhere = Client()
    signed_elsewhere.cookies[f"annotation_{study.public_id}"] = "x:" + assignment.token
    assert signed_elsewhere.get(entry(study, {"PROLIFIC_PID": "victim-pid"})).status_code == 200


@pytest.mark.parametrize(
    "params", [MTURK, PROLIFIC, {}], ids=["mturk same assignment", "prolific same session", "invitation"]
)
def test_a_returning_worker_who_finished_sees_their_completion_code_again(params):
    study = open_study(items_per_assignment=2)
    worker = Client()
    consent(worker, study, params)
    assignment = Assignment.objects.get()
    answer_all(assignment)
    assert finish(worker, assignment).status_code == 200
    for browser in (worker, Client()) if params else (worker,):
        back = browser.get(entry(study, params))
        assert back.status_code == 302 and back["Location"] == assignment.get_absolute_url()
        again = finish(browser, assignment).json()
        assert again["code"] == study.completion_code and not again["disqualified"]


def researcher(*groups: Group) -> Any:
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="annotation"))
    user.groups.add(*groups)
    return user


def test_results_exports_and_admin_show_a_study_to_its_owner_its_groups_and_superusers_only(client):
    lab = Group.objects.create(name="lab")
    owner, colleague, stranger = researcher(), researcher(lab), researcher()
    study = create_study(**STUDY_TEXTS, name="private", user=owner, items_per_assignment=4)
    for kind in ("real", "generated"):
        set_study_pool(study, ImagePoolFactory(kind=kind))
    studies.open_study(study)
    answer_all(start_assignment(study, Entry(platform="invite", worker_id="w")))
    item = StudyItem.objects.filter(study=study).first()
    pages = [
        reverse("annotation:results", args=[study.pk]),
        reverse("annotation:export_judgments", args=[study.pk]),
        reverse("annotation:export_summary", args=[study.pk]),
        reverse("annotation:item_image", args=[item.pk]),
        reverse("admin:annotation_study_change", args=[study.pk]),
        reverse("admin:annotation_study_attention", args=[study.pk]),
    ]

    def seen(user: Any) -> list[int]:
        client.force_login(user)
        return [client.get(page).status_code for page in pages]

    def listed(user: Any, name: str, text: str) -> bool:
        client.force_login(user)
        return text in client.get(reverse(f"admin:annotation_{name}_changelist")).content.decode()

    pseudonym = study.annotators.get().pseudonym
    assert seen(owner) == [200] * 6
    assert listed(owner, "study", "private") and listed(owner, "annotator", pseudonym)
    for other in (colleague, stranger):
        assert seen(other) == [404] * 4 + [302, 404]  # the admin's change page: no such object for them
        assert not listed(other, "study", "private") and not listed(other, "annotator", pseudonym)
    client.force_login(stranger)
    action = client.post(
        reverse("admin:annotation_study_changelist"), {"action": "export_judgments", "_selected_action": [study.pk]}
    )
    exported = b"".join(action.streaming_content).decode().splitlines()
    assert exported == [exported[0]] and exported[0].startswith("study,condition")  # the header, no judgment
    study.shared_with.add(lab)
    assert seen(colleague) == [200] * 6 and listed(colleague, "annotator", pseudonym)
    assert seen(stranger)[:4] == [404] * 4
    assert seen(UserFactory(is_staff=True, is_superuser=True)) == [200] * 6
