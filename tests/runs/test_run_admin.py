"""The admin: the run form built from the engine's config, its field-by-field refusals, and the actions."""

from __future__ import annotations

import pytest
from django.urls import reverse
from run_factories import CheckpointFactory, TrainingRunFactory, tiny_config
from run_support import queued_messages

from webapp.runs import engine, services
from webapp.runs.forms import RunConfigForm, form_name, overrides_of
from webapp.runs.models import Ablation, DomainClassifier, ImagePool, JobStatus, PoolScore, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db

ADD = reverse("admin:runs_trainingrun_add")
CHANGELIST = reverse("admin:runs_trainingrun_changelist")


def _post(**fields: str) -> dict[str, str]:
    return {"name": "a run", "notes": "", "recipe": "improved_gan_ssl", **fields}


def test_the_form_has_a_field_for_every_setting_of_the_engine():
    form = RunConfigForm()
    for spec in engine.field_specs():
        assert form_name(spec.name) in form.fields, spec.name
    assert form.fields["techniques__virtual_batch_norm"].choices[1:] == [("true", "on"), ("false", "off")]
    assert "improved_gan: 'paper_conv'" in form.fields["model__architecture"].help_text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("optim__lr", "-1", "must be positive"),
        ("model__width", "wide", "expected a number"),
        ("data__labels", "7", "multiple of the 10 classes"),
        ("run__device", "tpu", "must be auto, cpu, cuda or cuda:N"),
        ("optim__steps", "1.5", "expected an integer"),
    ],
)
def test_a_bad_setting_is_refused_on_its_own_field_and_nothing_is_queued(staff_client, broker, field, value, message):
    response = staff_client.post(ADD, _post(launch_now="on", data__dataset="digits", **{field: value}))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert not TrainingRun.objects.exists()
    assert queued_messages(broker, "gpu") == 0


def test_every_bad_field_is_reported_at_once(staff_client):
    response = staff_client.post(ADD, _post(optim__lr="0", optim__beta1="1.5", model__width="-2"))
    assert set(response.context["adminform"].form.errors) == {"optim__lr", "optim__beta1", "model__width"}


def test_blank_fields_take_the_chosen_recipe_defaults(staff_client):
    response = staff_client.post(ADD, _post(recipe="improved_gan", name="conv"))
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.status == RunStatus.DRAFT, "launch_now was not ticked"
    assert run.config["model"]["architecture"] == "paper_conv"
    assert run.config["data"]["image_size"] == 32
    assert run.config == engine.build_config("improved_gan", {}).to_dict()


def test_a_draft_shows_its_own_settings_and_can_be_edited_then_launched(staff_client, broker):
    draft = services.create_run(tiny_config(), name="draft", launch=False)
    page = staff_client.get(reverse("admin:runs_trainingrun_change", args=[draft.pk]))
    form = page.context["adminform"].form
    assert form.initial["optim__steps"] == "8" and form.initial["data__dataset"] == "digits"
    assert "model__architecture" not in form.initial, "the recipe's default is left blank"

    data = {**_post(name="draft"), **overrides_of(draft.config), "optim__steps": "12", "launch_now": "on"}
    response = staff_client.post(reverse("admin:runs_trainingrun_change", args=[draft.pk]), data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.total_steps, draft.config["optim"]["steps"]) == (RunStatus.QUEUED, 12, 12)


def test_a_launched_run_config_is_read_only(staff_client):
    run = TrainingRunFactory(status=RunStatus.DONE)
    page = staff_client.get(reverse("admin:runs_trainingrun_change", args=[run.pk]))
    assert set(page.context["adminform"].form.fields) == {"name", "notes"}
    assert b"optim.steps" in page.content


def _action(client, action: str, runs: list[TrainingRun], **extra: str):
    data = {"action": action, "_selected_action": [str(run.pk) for run in runs], **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_actions_report_what_they_did_and_why_they_refused(staff_client):
    queued, done = TrainingRunFactory(), TrainingRunFactory(status=RunStatus.DONE)
    response = _action(staff_client, "cancel", [queued, done])
    texts = [str(m) for m in response.context["messages"]]
    assert "Cancelled or told to stop: 1 of 2." in texts
    assert any("is done: there is nothing to cancel" in text for text in texts)
    assert TrainingRun.objects.get(pk=queued.pk).status == RunStatus.CANCELLED


def test_resume_and_duplicate_actions(staff_client):
    failed = TrainingRunFactory(status=RunStatus.FAILED)
    _action(staff_client, "resume", [failed])
    assert TrainingRun.objects.get(pk=failed.pk).status == RunStatus.QUEUED
    _action(staff_client, "duplicate", [failed])
    assert TrainingRun.objects.filter(source_run=failed, status=RunStatus.DRAFT).count() == 1


def test_the_ablation_action_launches_the_grid(staff_client):
    base = TrainingRunFactory(settings={"techniques.virtual_batch_norm": True}, status=RunStatus.DONE)
    _action(staff_client, "ablation", [base])
    ablation = Ablation.objects.get()
    assert ablation.runs.count() == len(engine.ablation_variants())


def test_sampling_a_pool_asks_for_its_size_first(staff_client):
    run = TrainingRunFactory(status=RunStatus.DONE)
    CheckpointFactory(run=run, step=8)
    page = _action(staff_client, "sample_pool", [run])
    assert b'name="size"' in page.content and not ImagePool.objects.exists()

    _action(staff_client, "sample_pool", [run], apply="1", size="64", seed="5")
    pool = ImagePool.objects.get()
    assert (pool.size, pool.seed, pool.step) == (64, 5, 8)


def test_real_pools_and_domain_classifiers_are_added_and_pools_scored_through_services(staff_client):
    response = staff_client.post(
        reverse("admin:runs_imagepool_add"), {"dataset": "digits", "size": "30", "seed": "1", "split": "test"}
    )
    assert response.status_code == 302
    pool = ImagePool.objects.get()
    assert (pool.kind, pool.size, pool.split, pool.status) == (ImagePool.Kind.REAL, 30, "test", JobStatus.QUEUED)

    response = staff_client.post(
        reverse("admin:runs_domainclassifier_add"), {"dataset": "digits", "epochs": "1", "min_accuracy": "0.5"}
    )
    assert response.status_code == 302
    assert DomainClassifier.objects.get().scorer == "digits_cnn"

    ImagePool.objects.filter(pk=pool.pk).update(status=JobStatus.DONE)
    scores = reverse("admin:runs_imagepool_changelist")
    selected = {"action": "score", "_selected_action": [str(pool.pk)]}
    page = staff_client.post(scores, selected)
    assert b'<option value="digits_cnn">' in page.content and not PoolScore.objects.exists()
    staff_client.post(scores, {**selected, "apply": "1", "scorer": "digits_cnn", "fid": "on", "real_split": "test"})
    score = PoolScore.objects.get()
    assert (score.scorer, score.fid, score.real_n) == ("digits_cnn", True, None)


@pytest.mark.parametrize("url", [reverse("runs:list"), reverse("admin:index"), ADD])
def test_only_staff_reach_the_dashboard_and_the_admin(client, researcher_user, staff, url):
    assert client.get(url).status_code == 302, "anonymous: sent to log in"
    client.force_login(researcher_user)
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"], "logged in but not staff"
    client.force_login(staff)
    assert client.get(url).status_code == 200
