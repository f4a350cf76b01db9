"""The admin: the run form built from the engine's config, its field-by-field refusals, and the actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gan_engine.config import ABLATIONS, build_config, field_specs
from runs import actions
from runs.forms import RunConfigForm, form_name, overrides_of
from runs.models import Ablation, DomainClassifier, ImagePool, JobStatus, PoolScore, RunStatus, TrainingRun
from testkit.factories import CheckpointFactory, TrainingRunFactory, tiny_config
from testkit.servers import queued_messages

pytestmark = pytest.mark.django_db

ADD = reverse("admin:runs_trainingrun_add")
CHANGELIST = reverse("admin:runs_trainingrun_changelist")


def _post(**fields: str) -> dict[str, str]:
    return {"name": "a run", "notes": "", "recipe": "improved_gan_ssl", **fields}


def test_the_form_has_a_field_for_every_setting_of_the_engine():
    form = RunConfigForm()
    for spec in field_specs():
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
    response = staff_client.post(ADD, _post(_launch="Save and launch", data__dataset="digits", **{field: value}))

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
    assert run.status == RunStatus.DRAFT, "saving never launches"
    assert run.config["model"]["architecture"] == "paper_conv"
    assert run.config["data"]["image_size"] == 32
    assert run.config == build_config("improved_gan", {}).to_dict()


def test_a_draft_shows_its_own_settings_and_can_be_edited_then_launched(
    staff_client, broker, django_capture_on_commit_callbacks
):
    draft = actions.create_run(tiny_config(), name="draft", launch=False)
    page = staff_client.get(reverse("admin:runs_trainingrun_change", args=[draft.pk]))
    form = page.context["adminform"].form
    assert form.initial["optim__steps"] == "8" and form.initial["data__dataset"] == "digits"
    assert "model__architecture" not in form.initial, "the recipe's default is left blank"
    # A browser posts every ticked box back: a launch box ticked by default launched drafts on "Save".
    assert b'type="checkbox"' not in page.content.split(b'id="trainingrun_form"')[1].split(b"</form>")[0]
    assert b'name="_launch"' in page.content, "launching is a button of its own"

    change = reverse("admin:runs_trainingrun_change", args=[draft.pk])
    data = {**_post(name="draft"), **overrides_of(draft.config), "optim__steps": "12"}
    with django_capture_on_commit_callbacks(execute=True):
        saved = staff_client.post(change, {**data, "_save": "Save"}, follow=True)
    draft.refresh_from_db()
    assert (draft.status, draft.total_steps) == (RunStatus.DRAFT, 12), "saving an edited draft never launches"
    assert queued_messages(broker, "gpu") == 0
    assert any("saved as a draft: nothing is queued" in str(m) for m in saved.context["messages"])

    with django_capture_on_commit_callbacks(execute=True):
        launched = staff_client.post(change, {**data, "_launch": "Save and launch"}, follow=True)
    draft.refresh_from_db()
    assert (draft.status, draft.total_steps, draft.config["optim"]["steps"]) == (RunStatus.QUEUED, 12, 12)
    assert launched.redirect_chain[-1][0] == draft.get_absolute_url(), "launching shows the run's dashboard"
    said = [str(m) for m in launched.context["messages"]]
    assert any(f"Queued {draft} for a GPU worker: 12 steps, first in the queue" in text for text in said), said
    assert queued_messages(broker, "gpu") == 1


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


ALL_ON = {
    "techniques.virtual_batch_norm": True,
    "techniques.label_smoothing": True,
    "techniques.minibatch_discrimination": True,
}


def test_the_ablation_action_launches_the_grid_once_confirmed(staff_client):
    base = TrainingRunFactory(settings=ALL_ON, status=RunStatus.DONE)
    page = _action(staff_client, "ablation", [base])
    assert b"Yes, launch 6 runs" in page.content and not Ablation.objects.exists(), "a confirmation first"
    _action(staff_client, "ablation", [base], apply="1")
    ablation = Ablation.objects.get()
    assert ablation.runs.count() == len(ABLATIONS)


def test_sampling_a_pool_asks_for_its_size_first(staff_client):
    run = TrainingRunFactory(status=RunStatus.DONE)
    CheckpointFactory(run=run, step=8)
    page = _action(staff_client, "sample_pool", [run])
    assert b'name="size"' in page.content and not ImagePool.objects.exists()

    _action(staff_client, "sample_pool", [run], apply="1", size="64", seed="5")
    pool = ImagePool.objects.get()
    assert (pool.size, pool.seed, pool.step) == (64, 5, 8)


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """A machine with no scorer weights at all."""
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(tmp_path / "absent-inception.pth"))
    monkeypatch.setenv("GAN_SCORER_DIR", str(tmp_path / "scorers"))


def test_real_pools_and_domain_classifiers_are_added_and_pools_scored_through_services(staff_client, no_weights):
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
    assert b'<option value="digits_cnn"' not in page.content, "not offered while its classifier trains"
    assert b"training now (domain classifier #" in page.content
    DomainClassifier.objects.update(status=JobStatus.DONE)
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


def test_scoring_offers_what_can_run_now_the_pool_dataset_own_first_and_the_web_fix_of_the_rest(
    staff_client, no_weights, tmp_path
):
    pool = ImagePool.objects.create(kind=ImagePool.Kind.REAL, dataset="fashion_mnist", size=10, status=JobStatus.DONE)
    selected = {"action": "score", "_selected_action": [str(pool.pk)]}
    scores = reverse("admin:runs_imagepool_changelist")
    page = staff_client.post(scores, selected).content.decode()
    assert "<option" not in page.split('name="scorer"')[1].split("</select>")[0], "nothing can run: nothing offered"
    fix = reverse("admin:runs_domainclassifier_add") + "?dataset=fashion_mnist"
    web, cli = page.index(f'href="{fix}"'), page.index("train-scorer --dataset fashion_mnist")
    assert web < cli, "the web's fix comes before the command line's"
    assert "inception</strong>: its weights are not on this machine" in page

    (tmp_path / "scorers").mkdir()
    (tmp_path / "scorers" / "digits_cnn.json").write_text("{}")
    DomainClassifier.objects.create(dataset="fashion_mnist", scorer="fashion_mnist_cnn", status=JobStatus.DONE)
    (tmp_path / "absent-inception.pth").write_bytes(b"weights")
    form = staff_client.post(scores, selected).context["form"]
    offered = [name for name, _ in form.fields["scorer"].choices]
    assert offered[:2] == ["fashion_mnist_cnn", "inception"] and "digits_cnn" in offered, offered

    # A failure to load the network says why on the pool's list, with the web's fix first.
    failed = PoolScore.objects.create(
        pool=pool, scorer="mnist_cnn", status=JobStatus.FAILED, error="ScorerError: scorer mnist_cnn: not found"
    )
    listing = staff_client.get(scores).content.decode()
    assert "failed: ScorerError: scorer mnist_cnn: not found" in listing
    assert listing.index(reverse("admin:runs_domainclassifier_add") + "?dataset=mnist") < listing.index(
        "train-scorer --dataset mnist"
    )
    pool_page = staff_client.get(reverse("admin:runs_imagepool_change", args=[pool.pk])).content.decode()
    assert "failed: ScorerError: scorer mnist_cnn: not found" in pool_page and "?dataset=mnist" in pool_page
    assert failed.pk


def test_the_domain_classifier_is_trained_from_the_pools_list(staff_client, django_capture_on_commit_callbacks):
    pool = ImagePool.objects.create(kind=ImagePool.Kind.REAL, dataset="digits", size=10, status=JobStatus.DONE)
    data = {"action": "train_classifier", "_selected_action": [str(pool.pk)]}
    response = staff_client.post(reverse("admin:runs_imagepool_changelist"), data, follow=True)
    classifier = DomainClassifier.objects.get()
    assert (classifier.dataset, classifier.status) == ("digits", JobStatus.QUEUED)
    assert any("digits_cnn queued for a GPU worker" in str(m) for m in response.context["messages"])


def test_finished_jobs_are_records_without_a_save_button(staff_client):
    pool = ImagePool.objects.create(kind=ImagePool.Kind.REAL, dataset="digits", size=10, status=JobStatus.DONE)
    classifier = DomainClassifier.objects.create(dataset="digits", scorer="digits_cnn", status=JobStatus.DONE)
    for url in (
        reverse("admin:runs_imagepool_change", args=[pool.pk]),
        reverse("admin:runs_domainclassifier_change", args=[classifier.pk]),
    ):
        page = staff_client.get(url)
        assert page.status_code == 200 and b'name="_save"' not in page.content, url
        assert staff_client.post(url, {"size": "99"}).status_code == 403


def test_a_run_page_offers_the_actions_that_apply_to_it_now_and_returns_to_it(staff_client):
    running = TrainingRunFactory(status=RunStatus.QUEUED)
    change = reverse("admin:runs_trainingrun_change", args=[running.pk])
    page = staff_client.get(change).content.decode()
    assert 'value="cancel"' in page and 'value="resume"' not in page and 'value="sample_pool"' not in page
    assert 'name="_addanother"' not in page and "deletelink" not in page, "no delete or 'add another' while active"
    assert staff_client.get(reverse("admin:runs_trainingrun_delete", args=[running.pk])).status_code == 403

    response = staff_client.post(
        CHANGELIST, {"action": "cancel", "_selected_action": [str(running.pk)], "_return": "change"}, follow=True
    )
    assert response.redirect_chain[-1][0] == change, "the button brings the researcher back to the run"
    assert TrainingRun.objects.get(pk=running.pk).status == RunStatus.CANCELLED

    done = TrainingRunFactory(status=RunStatus.DONE)
    CheckpointFactory(run=done, step=8)
    ImagePool.objects.create(kind=ImagePool.Kind.GENERATED, run=done, dataset="digits", size=4, status=JobStatus.DONE)
    page = staff_client.get(reverse("admin:runs_trainingrun_change", args=[done.pk])).content.decode()
    for action in ("sample_pool", "score", "ablation", "duplicate"):
        assert f'value="{action}"' in page, action
    assert 'value="cancel"' not in page and "deletelink" in page

    # Sample from the run's page: its options page, then back to the run.
    data = {"action": "sample_pool", "_selected_action": [str(done.pk)], "_return": "change"}
    options = staff_client.post(CHANGELIST, data).content.decode()
    assert 'name="_return" value="change"' in options
    response = staff_client.post(CHANGELIST, {**data, "apply": "1", "size": "16", "seed": "0"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:runs_trainingrun_change", args=[done.pk])
    assert ImagePool.objects.filter(run=done, size=16).exists()


def test_the_ablation_confirmation_lists_differences_drops_copies_of_the_base_and_explains_blank_errors(staff_client):
    base = TrainingRunFactory(status=RunStatus.DONE, images_per_sec=100.0)  # the semi-supervised recipe's defaults
    page = _action(staff_client, "ablation", [base]).content.decode()
    assert "Not launched, identical to the base (3 of 6)" in page
    assert "<strong>-VBN+BN</strong>, <strong>-LS</strong>, <strong>-MBF</strong>" in page
    assert (
        "<code>data.labels</code>: 20 → 0" in page and "<code>techniques.historical_averaging</code>: off → on" in page
    )
    assert page.count("none: no labels") == 2
    assert "Yes, launch 3 runs" in page
    assert "about 4s of GPU time in all" in page and f"run #{base.pk} itself, 100 images/s" in page
    assert not Ablation.objects.exists()

    _action(staff_client, "ablation", [base], apply="1")
    assert sorted(Ablation.objects.get().runs.values_list("ablation_variant", flat=True)) == [
        "-L",
        "-L+HA",
        "our_methods",
    ]


def test_launching_says_what_it_queued_and_duplicating_from_a_run_page_opens_the_copy(
    staff_client, django_capture_on_commit_callbacks
):
    ahead = actions.create_run(tiny_config(), name="ahead", launch=True)
    draft = actions.create_run(tiny_config(), name="mine", launch=False)
    with django_capture_on_commit_callbacks(execute=True):
        said = [str(m) for m in _action(staff_client, "launch", [draft]).context["messages"]]
    assert any(f"Queued {draft} for a GPU worker: 8 steps, 1 queued runs ahead of it" in text for text in said), said
    assert ahead.pk

    data = {"action": "duplicate", "_selected_action": [str(draft.pk)], "_return": "change"}
    response = staff_client.post(CHANGELIST, data, follow=True)
    copy = TrainingRun.objects.get(source_run=draft)
    assert copy.status == RunStatus.DRAFT
    assert response.redirect_chain[-1][0] == reverse("admin:runs_trainingrun_change", args=[copy.pk])


def test_scoring_from_a_run_page_scores_its_newest_written_pool(staff_client, no_weights):
    run = TrainingRunFactory(status=RunStatus.DONE)
    ImagePool.objects.create(kind=ImagePool.Kind.GENERATED, run=run, dataset="digits", size=4, status=JobStatus.DONE)
    newest = ImagePool.objects.create(
        kind=ImagePool.Kind.GENERATED, run=run, dataset="digits", size=8, status=JobStatus.DONE
    )
    DomainClassifier.objects.create(dataset="digits", scorer="digits_cnn", status=JobStatus.DONE)
    data = {"action": "score", "_selected_action": [str(run.pk)], "_return": "change"}
    page = staff_client.post(CHANGELIST, data)
    assert [name for name, _ in page.context["form"].fields["scorer"].choices] == ["digits_cnn"]
    response = staff_client.post(CHANGELIST, {**data, "apply": "1", "scorer": "digits_cnn", "real_split": "test"})
    assert response.url == reverse("admin:runs_trainingrun_change", args=[run.pk])
    assert PoolScore.objects.get().pool == newest


def test_the_run_list_finds_a_run_by_its_id_and_survives_a_bad_page(staff_client):
    runs = [TrainingRunFactory(status=RunStatus.DONE) for _ in range(3)]
    page = staff_client.get(reverse("runs:list"), {"q": f"#{runs[1].pk}", "page": "abc"})
    assert [run.pk for run in page.context["runs"]] == [runs[1].pk]
    TrainingRunFactory(status=RunStatus.RUNNING)
    table = staff_client.get(reverse("runs:list"), {"q": "run", "status": "running"}).content.decode()
    assert 'hx-get="/runs/table/?q=run&amp;status=running"' in table, "the live refresh keeps the search"
