"""Checkpoint sweeps: the plan (evenly spaced checkpoints, refusals naming their field), the admin's options and
confirmation pages, the command, and, with a real worker, the pools, scores (IS, FID, C2ST) and study they make."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation import readiness, sweeps
from annotation.models import Study
from runs import actions, planning, tasks
from runs.models import (
    DomainClassifier,
    ImagePool,
    JobStatus,
    MetricPoint,
    PoolScore,
    RunEvent,
    RunStatus,
    TrainingRun,
)
from testkit.factories import CheckpointFactory, TrainingRunFactory, tiny_config
from testkit.servers import queued_messages, wait_for

CHANGELIST = reverse("admin:runs_trainingrun_changelist")


@pytest.mark.parametrize(
    ("available", "n", "expected"),
    [
        ([150, 300, 450, 600], 4, [150, 300, 450, 600]),
        ([100, 200, 300, 400, 500, 600, 700], 3, [100, 400, 700]),
        ([100, 200, 300, 400, 500], 2, [100, 500]),
        ([300, 100, 200], 1, [300]),
        ([2, 4], 5, [2, 4]),
    ],
)
def test_checkpoints_are_evenly_spaced_first_and_last_included(available, n, expected):
    assert planning.sweep_steps(available, n) == expected


@pytest.fixture(autouse=True)
def no_local_scorers(tmp_path, monkeypatch):
    """Scorers are ready only as each test says, whatever weights this machine holds."""
    monkeypatch.setenv("GAN_SCORER_DIR", str(tmp_path / "no-scorers"))
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(tmp_path / "no-inception.pth"))


def _ready_digits_scorer() -> None:
    DomainClassifier.objects.create(dataset="digits", scorer="digits_cnn", status=JobStatus.DONE)


def _run_with_checkpoints(*steps: int, **settings) -> TrainingRun:
    run = TrainingRunFactory(status=RunStatus.DONE, settings=settings)
    for step in steps:
        CheckpointFactory(run=run, step=step)
    return run


@pytest.mark.django_db
def test_the_plan_refuses_what_cannot_run_naming_the_field():
    _ready_digits_scorer()
    run = _run_with_checkpoints(2, 4, 6, 8)
    plan = planning.plan_sweep([run], checkpoints=3, pool_size=20, scorer="digits_cnn", top_percent=50)
    assert not plan.problems
    assert [c.step for _, c in plan.pools] == [2, 6, 8]
    assert plan.images == 80 and plan.kept_per_pool == 10 and plan.items_per_assignment == 40

    other = _run_with_checkpoints(2, **{"data.dataset": "fashion_mnist"})
    problems = planning.plan_sweep([run, other], scorer="digits_cnn").problems
    assert any(p.startswith("runs: a sweep's study shows one dataset") for p in problems)
    problems = planning.plan_sweep([run], scorer="inception", pool_size=4, top_percent=0).problems
    assert any(p.startswith("scorer: inception cannot run now") for p in problems)
    assert any(p.startswith("pool size:") for p in problems) and any(p.startswith("top k:") for p in problems)
    problems = planning.plan_sweep([run], steps=[4, 5], scorer="digits_cnn").problems
    assert problems == [f"steps: run #{run.pk} has no kept checkpoint at step 5 (kept: 2, 4, 6, 8)"]
    empty = _run_with_checkpoints()
    assert planning.plan_sweep([empty], scorer="digits_cnn").problems == [
        f"runs: run #{empty.pk} has no checkpoint yet"
    ]
    with pytest.raises(actions.RunError, match="steps: run"):
        sweeps.create_sweep([run], steps=[5], scorer="digits_cnn")
    assert not Study.objects.exists() and not ImagePool.objects.exists(), "a refused sweep writes nothing"


@pytest.mark.django_db
def test_the_admin_action_shows_the_plan_and_its_cost_then_queues_the_sweep(
    staff_client, broker, django_capture_on_commit_callbacks
):
    _ready_digits_scorer()
    run = _run_with_checkpoints(2, 4, 6, 8)
    data = {"action": "sweep", "_selected_action": [str(run.pk)]}
    options = staff_client.post(CHANGELIST, data).content.decode()
    assert 'name="pool_size"' in options and "digits_cnn" in options
    assert "inception</strong>: its weights are not on this machine" in options, "the others say why"
    fields = {"checkpoints": "4", "steps": "", "pool_size": "20", "scorer": "digits_cnn", "top_percent": ""}
    plan = staff_client.post(CHANGELIST, {**data, **fields, "plan": "1"}).content.decode()
    assert plan.count('class="sweep-pool"') == 4 and "Cost: 100 images written and 4 pools scored" in plan
    assert not ImagePool.objects.exists(), "nothing is queued before the confirmation"
    bad = staff_client.post(CHANGELIST, {**data, **fields, "steps": "3", "plan": "1"}).content.decode()
    assert "no kept checkpoint at step 3" in bad and 'name="apply"' not in bad

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(CHANGELIST, {**data, **fields, "apply": "1"}, follow=True)
    assert any("Sweep queued: 5 pools" in str(m) for m in response.context["messages"])
    study = Study.objects.get()
    assert study.status == Study.Status.DRAFT and study.title and study.instructions and study.consent_text
    assert sorted(ImagePool.objects.filter(run=run).values_list("step", flat=True)) == [2, 4, 6, 8]
    assert PoolScore.objects.filter(scorer="digits_cnn", status=JobStatus.QUEUED).count() == 4
    assert study.study_pools.count() == 5
    assert queued_messages(broker, "cpu") == 5, "one chain per pool, sent once the transaction committed"
    assert RunEvent.objects.filter(run=run, message__startswith=f"sweep queued for study #{study.pk}").exists()

    page = staff_client.get(reverse("admin:runs_trainingrun_change", args=[run.pk])).content.decode()
    assert 'value="sweep"' in page


@pytest.mark.django_db
def test_the_command_names_a_missing_run_and_refuses_an_unready_scorer():
    with pytest.raises(CommandError, match="RUN: no run #999"):
        call_command("sweep", "999")
    run = _run_with_checkpoints(2, 4)
    with pytest.raises(CommandError, match="--scorer: no scorer can run now"):
        call_command("sweep", str(run.pk))
    with pytest.raises(CommandError, match="scorer: inception cannot run now"):
        call_command("sweep", str(run.pk), "--scorer", "inception")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sweep_samples_scores_and_opens_its_study_with_a_real_worker(start_worker, tmp_path, capsys, staff_client):
    start_worker("w1", env={"GAN_SCORER_DIR": str(tmp_path / "scorers"), "GAN_STATS_DIR": str(tmp_path / "stats")})
    run = actions.create_run(tiny_config(**{"run.keep_checkpoints": 10}), name="swept")
    classifier = actions.train_domain_classifier("digits", epochs=1, min_accuracy=0.0, limit=300)
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status == RunStatus.DONE, 90, "training")
    wait_for(lambda: DomainClassifier.objects.get(pk=classifier.pk).status == JobStatus.DONE, 90, "the classifier")

    args = ["--checkpoints", "4", "--pool-size", "20", "--scorer", "digits_cnn", "--top-k", "50", "--open"]
    call_command("sweep", str(run.pk), *args)
    assert "4 generated pools of 20 images" in capsys.readouterr().out
    study = Study.objects.get()
    wait_for(lambda: Study.objects.get(pk=study.pk).status == Study.Status.OPEN, 180, "the sweep's study to open")

    pools = ImagePool.objects.filter(run=run).order_by("step")
    assert [pool.step for pool in pools] == [2, 4, 6, 8] and all(p.status == JobStatus.DONE for p in pools)
    for pool in pools:
        (score,) = pool.scores.all()
        assert score.status == JobStatus.DONE, score.error
        assert {"is_mean", "fid", "c2st_accuracy", "c2st_ci_low", "c2st_ci_high"} <= set(score.values)
        assert json.loads((pool.folder / "pool.json").read_text())["scores"][0]["c2st_n_test"] == 20
    study = Study.objects.get(pk=study.pk)
    assert readiness.problems(study) == []
    # The top 50% by IS: 10 of each pool's 20 images are in the study.
    assert {pool.pk: study.items.filter(pool=pool).count() for pool in pools} == {pool.pk: 10 for pool in pools}
    assert RunEvent.objects.filter(run=run, message=f"sweep of study #{study.pk} done: the study is open").exists()

    # The run's page shows each pool's C2ST beside its IS and FID, and the series has a point per checkpoint.
    page = staff_client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert page.count("C2ST ") >= 4 and "(50% = chance)" in page
    assert MetricPoint.objects.filter(run=run, name="C2ST accuracy").count() == 4

    # Redelivered messages of the finished chains change nothing.
    scores = list(PoolScore.objects.filter(pool__run=run).values_list("pk", flat=True))
    assert sweeps.finish_sweep(study.pk, scores, True) == "study open"
    assert tasks.sample_pool(pools[0].pk) == "skipped"
    assert tasks.score_pool(scores[0]) == "skipped"


@pytest.mark.django_db
def test_finish_sweep_waits_for_every_job_and_reports_a_failure_on_the_runs():
    _ready_digits_scorer()
    run = _run_with_checkpoints(2, 4, 6, 8)
    study = sweeps.create_sweep([run], checkpoints=2, pool_size=10, scorer="digits_cnn", open_study=True)
    scores = list(PoolScore.objects.values_list("pk", flat=True))
    pools = ImagePool.objects.filter(study_pools__study=study)
    assert sweeps.finish_sweep(study.pk, scores, True) == "waiting"
    pools.update(status=JobStatus.DONE)
    assert sweeps.finish_sweep(study.pk, scores, True) == "waiting", "the scores are still queued"
    PoolScore.objects.filter(pk=scores[0]).update(status=JobStatus.DONE)
    PoolScore.objects.filter(pk=scores[1]).update(status=JobStatus.FAILED, error="ScorerError: no weights")
    assert sweeps.finish_sweep(study.pk, scores, True) == "failed"
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT, "a sweep with a failed job never opens"
    event = RunEvent.objects.filter(run=run, level=RunEvent.Level.ERROR).get()
    assert f"sweep of study #{study.pk}" in event.message and "ScorerError: no weights" in event.message
    PoolScore.objects.filter(pk=scores[1]).update(status=JobStatus.DONE)
    assert sweeps.finish_sweep(study.pk, scores, False) == "ready", "asked for a draft: it stays one"
    assert sweeps.finish_sweep(999_999, scores, True) == "no study"


@pytest.mark.django_db
def test_a_failed_pool_fails_its_chained_score_with_the_pools_error():
    _ready_digits_scorer()
    run = _run_with_checkpoints(2)
    sweeps.create_sweep([run], checkpoints=1, pool_size=10, scorer="digits_cnn")
    pool = ImagePool.objects.get(run=run)
    pool.status, pool.error = JobStatus.FAILED, "CheckpointError: unreadable"
    pool.save()
    score = PoolScore.objects.get(pool=pool)
    assert tasks.score_pool(score.pk) == "failed"
    score.refresh_from_db()
    assert score.status == JobStatus.FAILED and "is failed: CheckpointError: unreadable" in score.error
