"""End to end against PostgreSQL, Redis and real Celery worker processes: launch from the admin form,
cancel and resume, a duplicate delivery, and a worker killed mid-run whose run another worker resumes."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from django.urls import reverse

from runs import actions, tasks
from runs.models import Checkpoint, MetricPoint, RunStatus, TrainingRun
from testkit.factories import CHECKPOINT_EVERY, LOG_EVERY, LOGGED, LONG, STEPS, StaffFactory, tiny_config
from testkit.servers import queued_messages, wait_for, wait_for_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _form_data(**fields: str) -> dict[str, str]:
    data = {
        "name": "tiny from the form",
        "notes": "",
        "recipe": "improved_gan_ssl",
        "_launch": "Save and launch",
        "data__dataset": "digits",
        "data__labels": "20",
        "model__width": "0.1",
        "optim__batch_size": "20",
        "optim__steps": "8",
        "run__log_every": "2",
        "run__eval_every": "4",
        "run__sample_every": "4",
        "run__checkpoint_every": "2",
        "run__init_examples": "60",
    }
    data.update(fields)
    return data


def test_a_run_launched_from_the_admin_form_trains_to_done(client, start_worker):
    start_worker("w1")
    client.force_login(StaffFactory())

    response = client.post(reverse("admin:runs_trainingrun_add"), _form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    run = TrainingRun.objects.get()
    assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.DONE)

    run = wait_for_run(run.pk, 90, "the run to finish", lambda r: r.status == RunStatus.DONE)
    assert (run.step, run.attempt, run.resumed_from_step) == (8, 1, None)
    assert run.worker_host.startswith("w1@")
    assert run.lease_token is None
    assert sorted(Checkpoint.objects.filter(run=run).values_list("step", flat=True)) == [2, 4, 6, 8]
    newest = Checkpoint.objects.get(run=run, step=8)
    assert newest.file.is_file()
    names = set(MetricPoint.objects.filter(run=run).values_list("name", flat=True))
    assert {"loss_d", "loss_g", "test_error"} <= names
    assert set(MetricPoint.objects.filter(run=run, name="test_error").values_list("step", flat=True)) == {4, 8}
    assert run.sample_step == 8

    page = client.get(reverse("runs:detail", args=[run.pk]))
    assert page.status_code == 200
    assert b"samples at step 8" in page.content
    image = client.get(reverse("runs:sample", args=[run.pk]))
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")
    series = client.get(reverse("runs:metrics", args=[run.pk])).json()
    assert series["active"] is False
    assert series["series"]["loss_d"]["steps"] == [2, 4, 6, 8]


def test_cancel_stops_within_seconds_and_resume_continues_from_the_checkpoint(start_worker):
    start_worker("w1")
    run = actions.create_run(tiny_config(**LONG), name="cancel me")
    wait_for_run(run.pk, 60, "training to start", lambda r: r.status == RunStatus.RUNNING and r.step >= LOG_EVERY)

    actions.cancel_run(run)
    run = wait_for_run(run.pk, 10, "the cancellation", lambda r: r.status == RunStatus.CANCELLED)
    stopped_at = run.step
    assert LOG_EVERY <= stopped_at < STEPS
    assert Checkpoint.objects.filter(run=run, step=stopped_at).exists(), "the loop checkpoints where it stops"

    actions.resume_run(run)
    run = wait_for_run(run.pk, 90, "the resumed run to finish", lambda r: r.status == RunStatus.DONE)
    assert run.attempt == 2
    assert run.resumed_from_step == stopped_at
    losses = MetricPoint.objects.filter(run=run, name="loss_d").values_list("step", flat=True)
    # The loop also reports the step where it stopped.
    assert sorted(losses) == sorted({*LOGGED, stopped_at}), "every logged step once, none lost"


def test_a_second_delivery_while_the_run_trains_starts_no_second_trainer(start_worker, broker):
    start_worker("w1", "w2")
    run = actions.create_run(tiny_config(**LONG), name="delivered twice")
    run = wait_for_run(run.pk, 60, "training to start", lambda r: r.status == RunStatus.RUNNING)
    trainer = run.worker_host

    # What Redis does to a task that outlives its visibility timeout: the same message again, to an idle worker.
    tasks.train_run.delay(run.pk)
    wait_for(lambda: run.events.filter(message__contains="ignored").exists(), 30, "the duplicate to be refused")

    run = wait_for_run(run.pk, 90, "the run to finish", lambda r: r.status == RunStatus.DONE)
    assert run.attempt == 1
    assert run.worker_host == trainer
    assert queued_messages(broker, "gpu") == 0


def test_a_worker_killed_mid_run_is_replaced_by_another_that_resumes_from_its_checkpoint(start_worker):
    (first,) = start_worker("w1")
    run = actions.create_run(tiny_config(**LONG), name="survives a lost worker")
    run = wait_for_run(
        run.pk, 60, "a first checkpoint", lambda r: r.status == RunStatus.RUNNING and r.step >= CHECKPOINT_EVERY
    )
    assert run.worker_host.startswith("w1@")

    first.kill()
    killed_at = Checkpoint.objects.filter(run=run).order_by("-step").first().step
    # Until its lease lapses a run counts as trained, and a delivery in that window is refused as a duplicate.
    time.sleep(settings.RUN_LEASE_SECONDS + 0.5)
    # The message was never acknowledged: past its visibility timeout Redis delivers it to w2.
    start_worker("w2")
    run = wait_for_run(run.pk, 120, "w2 to finish the run", lambda r: r.status == RunStatus.DONE)

    assert run.attempt == 2
    assert run.worker_host.startswith("w2@")
    assert run.resumed_from_step is not None and run.resumed_from_step >= killed_at
    log = "\n".join(run.events.values_list("message", flat=True))
    assert re.search(rf"resuming from the checkpoint of step {run.resumed_from_step}", log)
    assert "training from step 0" in log and log.count("training from step 0") == 1, "never from scratch again"
    steps = list(Checkpoint.objects.filter(run=run).values_list("step", flat=True))
    assert len(steps) == len(set(steps))
    losses = sorted(MetricPoint.objects.filter(run=run, name="loss_d").values_list("step", flat=True))
    assert losses == LOGGED
