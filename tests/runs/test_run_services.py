"""The runs' state machine on PostgreSQL: claims and leases, progress, cancellation, resume, recovery,
ablations and pools. No worker: the worker-side steps are called as a task body calls them."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from gan_engine.config import ABLATIONS
from runs import actions, planning, tasks, worker
from runs.models import (
    Checkpoint,
    ImagePool,
    JobStatus,
    MetricKind,
    MetricPoint,
    RunEvent,
    RunStatus,
    TrainingRun,
)
from testkit.factories import CheckpointFactory, MetricPointFactory, StaffFactory, TrainingRunFactory, tiny_config
from testkit.servers import queued_messages
from webapp import celery_app

pytestmark = pytest.mark.django_db


def _age_lease(run: TrainingRun) -> None:
    """Make the run's lease look like that of a worker gone silent."""
    old = timezone.now() - timedelta(seconds=settings.RUN_LEASE_SECONDS + 1)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=old)


def _progress(step: int, **fields: object) -> SimpleNamespace:
    values = {
        "step": step,
        "total_steps": 8,
        "epoch": step / 10,
        "losses": {"loss_d": 1.0 / step, "loss_g": 2.0},
        "images_per_sec": 100.0,
        "eta_seconds": 1.0,
        "metrics": {},
        "sample_grid": None,
        "checkpoint": None,
    }
    values.update(fields)
    return SimpleNamespace(**values)


def test_a_claim_takes_a_queued_run_and_refuses_a_second_worker_while_the_lease_is_live():
    run = TrainingRunFactory()
    claim = worker.claim_run(run.pk, worker="a pid 1")
    assert claim is not None and claim.attempt == 1

    assert worker.claim_run(run.pk, worker="b pid 2") is None
    run.refresh_from_db()
    assert (run.status, run.attempt, run.worker_host, run.lease_token) == ("running", 1, "a pid 1", claim.token)
    assert RunEvent.objects.filter(run=run, message__startswith="delivery to b pid 2 ignored").exists()


def test_a_lapsed_lease_is_taken_over_with_a_new_attempt_and_token():
    run = TrainingRunFactory()
    first = worker.claim_run(run.pk, worker="a pid 1")
    _age_lease(run)

    second = worker.claim_run(run.pk, worker="b pid 2")
    assert second is not None and second.attempt == 2 and second.token != first.token
    with pytest.raises(worker.LeaseLost):
        worker.record_progress(first, _progress(2))
    assert not MetricPoint.objects.filter(run=run).exists(), "the old holder wrote nothing"


def test_a_lease_in_the_claiming_process_own_name_is_a_leftover_and_is_taken():
    run = TrainingRunFactory()
    worker.claim_run(run.pk, worker="a pid 1")
    assert worker.claim_run(run.pk, worker="a pid 1").attempt == 2


def test_a_run_that_keeps_losing_its_worker_is_failed_at_its_attempt_limit():
    run = TrainingRunFactory(attempt=5, attempt_limit=5)
    assert worker.claim_run(run.pk, worker="a pid 1") is None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "gave up after 5 attempts" in run.error


@pytest.mark.parametrize("status", [RunStatus.DRAFT, RunStatus.DONE, RunStatus.CANCELLED, RunStatus.FAILED])
def test_a_claim_leaves_runs_that_are_not_to_be_trained(status):
    run = TrainingRunFactory(status=status)
    assert worker.claim_run(run.pk, worker="a pid 1") is None
    run.refresh_from_db()
    assert run.status == status and run.attempt == 0


def test_a_claim_finishes_the_cancellation_of_a_run_whose_worker_was_lost():
    run = TrainingRunFactory()
    worker.claim_run(run.pk, worker="a pid 1")
    actions.cancel_run(run)
    _age_lease(run)
    assert worker.claim_run(run.pk, worker="b pid 2") is None
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.lease_token is None


def test_progress_is_stored_once_per_step_and_a_repeat_overwrites_it():
    run = TrainingRunFactory()
    claim = worker.claim_run(run.pk, worker="a pid 1")
    ckpt = run.run_dir / "checkpoints" / "step_00000002.pt"
    worker.record_progress(claim, _progress(2, checkpoint=str(ckpt), metrics={"test_error": 0.5}))
    worker.record_progress(claim, _progress(2, losses={"loss_d": 9.0, "loss_g": 2.0}, checkpoint=str(ckpt)))

    run.refresh_from_db()
    assert run.step == 2
    assert MetricPoint.objects.get(run=run, name="loss_d", step=2).value == 9.0
    assert MetricPoint.objects.get(run=run, name="test_error").kind == MetricKind.EVAL
    assert list(Checkpoint.objects.filter(run=run).values_list("step", "path")) == [
        (2, f"{run.run_dir_name}/checkpoints/step_00000002.pt")
    ]


def test_resuming_forgets_what_the_interrupted_attempt_logged_past_the_checkpoint():
    run = TrainingRunFactory()
    for step in (2, 4, 6):
        MetricPointFactory(run=run, step=step)
        CheckpointFactory(run=run, step=step)
    MetricPointFactory(run=run, step=6, name="IS (inception)", kind=MetricKind.SCORE)
    claim = worker.claim_run(run.pk, worker="a pid 1")

    worker.begin_training(claim, resume=run.run_dir / "checkpoints" / "step_00000004.pt", device="cpu")

    run.refresh_from_db()
    assert (run.step, run.resumed_from_step, run.device) == (4, 4, "cpu")
    assert sorted(MetricPoint.objects.filter(run=run, kind=MetricKind.LOSS).values_list("step", flat=True)) == [2, 4]
    assert sorted(Checkpoint.objects.filter(run=run).values_list("step", flat=True)) == [2, 4]
    assert MetricPoint.objects.filter(run=run, kind=MetricKind.SCORE).count() == 1, "scores of a checkpoint stay"


def test_a_finished_loop_marks_the_run_done_and_releases_its_lease():
    run = TrainingRunFactory()
    claim = worker.claim_run(run.pk, worker="a pid 1")
    result = SimpleNamespace(status="done", step=8, checkpoint=str(run.run_dir / "checkpoints" / "step_00000008.pt"))
    assert worker.finish_run(claim, result) == RunStatus.DONE
    run.refresh_from_db()
    assert (run.status, run.step, run.lease_token, run.heartbeat_at) == (RunStatus.DONE, 8, None, None)
    assert Checkpoint.objects.filter(run=run, step=8).exists()


def test_a_crash_stores_the_error_and_fails_the_run():
    run = TrainingRunFactory()
    claim = worker.claim_run(run.pk, worker="a pid 1")
    worker.fail_run(claim, RuntimeError("CUDA out of memory"))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "RuntimeError: CUDA out of memory"
    assert run.events.filter(level="error", message__contains="CUDA out of memory").exists()


@pytest.mark.django_db(transaction=True)  # the lease's heartbeat thread has a connection of its own
@override_settings(RUN_HEARTBEAT_SECONDS=0.05, RUN_LEASE_SECONDS=0.5)
def test_the_lease_stays_live_while_the_worker_loads_the_engine(monkeypatch):
    # A torch import longer than the lease let the sweep hand a live worker's run to a second worker,
    # and the two took turns claiming it.
    run = TrainingRunFactory()
    swept = []

    def train(config, run_dir, **hooks):
        return SimpleNamespace(status="done", step=8, checkpoint=str(run_dir / "checkpoints" / "step_00000008.pt"))

    def slow_engine_start(run_dir):
        time.sleep(2 * settings.RUN_LEASE_SECONDS)
        swept.append(actions.recover_stale_runs())
        return None

    monkeypatch.setattr("gan_engine.training.checkpoint.latest_checkpoint", slow_engine_start)
    monkeypatch.setattr("gan_engine.training.loop.resolve_device", lambda name: "cpu")
    monkeypatch.setattr("gan_engine.training.loop.train", train)

    assert tasks.train_run(run.pk) == RunStatus.DONE
    assert swept == [0]
    run.refresh_from_db()
    assert (run.status, run.attempt) == (RunStatus.DONE, 1)


def test_cancel_stops_a_queued_run_at_once_and_asks_a_training_one_to_stop():
    queued, training = TrainingRunFactory(), TrainingRunFactory()
    claim = worker.claim_run(training.pk, worker="a pid 1")

    assert actions.cancel_run(queued).status == RunStatus.CANCELLED
    assert actions.cancel_run(training).status == RunStatus.CANCELLING
    assert worker.renew_lease(claim) == RunStatus.CANCELLING, "what the trainer's heartbeat learns"
    stalled = TrainingRunFactory()
    worker.claim_run(stalled.pk, worker="b pid 2")
    _age_lease(stalled)
    assert actions.cancel_run(stalled).status == RunStatus.CANCELLED, "no live worker to wait for"
    with pytest.raises(actions.RunError, match="nothing to cancel"):
        actions.cancel_run(TrainingRunFactory(status=RunStatus.DONE))


def test_resume_queues_a_failed_run_again_and_refuses_a_finished_one(broker, django_capture_on_commit_callbacks):
    failed = TrainingRunFactory(status=RunStatus.FAILED, error="boom", attempt=2, attempt_limit=2)
    with django_capture_on_commit_callbacks(execute=True):
        actions.resume_run(failed, user=StaffFactory())
    failed.refresh_from_db()
    assert (failed.status, failed.error, failed.attempt_limit) == (RunStatus.QUEUED, "", 2 + settings.RUN_MAX_ATTEMPTS)
    assert queued_messages(broker, "gpu") == 1
    with pytest.raises(actions.RunError, match="only a failed, cancelled or stalled run"):
        actions.resume_run(TrainingRunFactory(status=RunStatus.DONE))


def test_recovery_requeues_runs_whose_lease_lapsed_and_leaves_live_ones(broker, django_capture_on_commit_callbacks):
    lost, cancelling, live = TrainingRunFactory(), TrainingRunFactory(), TrainingRunFactory()
    for run in (lost, cancelling, live):
        worker.claim_run(run.pk, worker=f"w{run.pk}")
    actions.cancel_run(cancelling)
    _age_lease(lost)
    _age_lease(cancelling)

    with django_capture_on_commit_callbacks(execute=True):
        assert actions.recover_stale_runs() == 2

    statuses = dict(TrainingRun.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: RunStatus.QUEUED, cancelling.pk: RunStatus.CANCELLED, live.pk: RunStatus.RUNNING}
    assert queued_messages(broker, "gpu") == 1


def test_only_a_draft_can_be_launched_and_launching_queues_it(broker, django_capture_on_commit_callbacks):
    draft = actions.create_run(tiny_config(), name="draft", launch=False)
    assert draft.status == RunStatus.DRAFT
    with django_capture_on_commit_callbacks(execute=True):
        actions.launch_run(draft)
    assert TrainingRun.objects.get(pk=draft.pk).status == RunStatus.QUEUED
    assert queued_messages(broker, "gpu") == 1
    with pytest.raises(actions.RunError, match="only a draft"):
        actions.launch_run(draft)


def test_duplicate_makes_a_draft_with_the_same_config():
    run = TrainingRunFactory(status=RunStatus.DONE)
    copy = actions.duplicate_run(run)
    assert (copy.status, copy.config, copy.source_run) == (RunStatus.DRAFT, run.config, run)


def test_the_ablation_grid_queues_one_run_per_variant_of_the_paper():
    switches = {
        "techniques.minibatch_discrimination": True,
        "techniques.virtual_batch_norm": True,
        "techniques.label_smoothing": True,
    }
    base = actions.create_run(tiny_config(**switches), name="ours", launch=False)
    ablation = actions.launch_ablation(base)

    runs = {run.ablation_variant: run for run in ablation.runs.all()}
    assert set(runs) == set(ABLATIONS)
    assert {run.status for run in runs.values()} == {RunStatus.QUEUED}
    assert runs["-L"].config["data"]["labels"] == 0
    assert runs["-MBF"].config["techniques"]["minibatch_discrimination"] is False
    assert runs["-L+HA"].config["techniques"]["historical_averaging"] is True
    assert runs["our_methods"].config == base.config


def test_the_ablation_grid_of_a_semi_supervised_draft_drops_the_variants_equal_to_it():
    """The recipe's defaults have VBN, label smoothing and minibatch features off: -VBN+BN, -LS and -MBF
    would each train the base again."""
    base = actions.create_run(tiny_config(), name="ssl", launch=False)
    plan = planning.plan_ablation(base)
    assert [v.name for v in plan.dropped] == ["-VBN+BN", "-LS", "-MBF"]
    assert {v.name: v.no_test_error != "" for v in plan.to_launch} == {"our_methods": False, "-L+HA": True, "-L": True}
    assert "no labels" in plan.variants[2].no_test_error

    ablation = actions.launch_ablation(base)
    assert sorted(ablation.runs.values_list("ablation_variant", flat=True)) == ["-L", "-L+HA", "our_methods"]
    assert "-VBN+BN, -LS, -MBF dropped" in base.events.last().message


def test_a_cost_estimate_uses_the_run_or_a_similar_run_measured_speed():
    base = actions.create_run(tiny_config(), name="ssl", launch=False)
    assert planning.plan_ablation(base).total_seconds is None, "nothing measured yet: no made-up number"
    TrainingRunFactory(status=RunStatus.DONE, images_per_sec=200.0)  # the same tiny config: 20 images a step
    TrainingRunFactory(status=RunStatus.DONE, images_per_sec=1.0, settings={"optim.batch_size": 10})  # not similar
    plan = planning.plan_ablation(base)
    assert plan.speed.seconds_per_step == pytest.approx(0.1)
    assert plan.total_seconds == pytest.approx(3 * 8 * 0.1)
    base.images_per_sec = 20.0
    assert planning.measured_speed(base).seconds_per_step == pytest.approx(1.0), "the run's own speed first"


def test_sampling_needs_a_checkpoint_and_scoring_a_written_pool():
    run = TrainingRunFactory(status=RunStatus.DONE)
    with pytest.raises(actions.RunError, match="no checkpoint"):
        actions.sample_pool(run, size=10)
    CheckpointFactory(run=run, step=8)
    pool = actions.sample_pool(run, size=10, seed=3)
    assert (pool.kind, pool.step, pool.size, pool.status) == (ImagePool.Kind.GENERATED, 8, 10, JobStatus.QUEUED)

    with pytest.raises(actions.RunError, match="only a written pool"):
        actions.score_pool(pool, scorer="inception")
    pool.status = JobStatus.DONE
    with pytest.raises(actions.RunError, match="unknown scorer"):
        actions.score_pool(pool, scorer="nope")
    assert actions.score_pool(pool, scorer="digits_cnn", real_n=100).status == JobStatus.QUEUED


def test_tasks_are_named_routed_and_scheduled_as_the_settings_say():
    tasks = celery_app.tasks
    for name, route in settings.CELERY_TASK_ROUTES.items():
        assert name in tasks and route == {"queue": "gpu"}
    assert {name for name in tasks if name.startswith("runs.")} == {
        "runs.train_run",
        "runs.train_domain_classifier",
        "runs.sample_pool",
        "runs.draw_real_pool",
        "runs.score_pool",
        "runs.recover_stale_runs",
        "runs.finish_sweep",
    }
    assert settings.CELERY_BEAT_SCHEDULE["recover-stale-runs"]["task"] in tasks
    train = tasks["runs.train_run"]
    assert (train.acks_late, train.reject_on_worker_lost, train.max_retries) == (True, True, 8)
    assert celery_app.conf.task_time_limit is None and celery_app.conf.worker_prefetch_multiplier == 1
