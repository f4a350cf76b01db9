"""Hosts that share a bucket and no folder (ARTIFACTS_STORE=s3 on a real moto server): each worker and the web side
keep their own ARTIFACTS_DIR, and whatever one writes the others read from the bucket."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from annotation.models import AssignmentItem
from runs import actions, pool_files
from runs.artifact_store import artifact_store
from runs.models import Checkpoint, DomainClassifier, ImagePool, JobStatus, MetricPoint, PoolScore, RunStatus
from testkit.factories import CHECKPOINT_EVERY, LOGGED, LONG, open_study, start, tiny_config
from testkit.servers import wait_for, wait_for_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def host(s3_settings: Any, folder: Path) -> dict[str, str]:
    """A worker host's environment: the test's bucket, a working copy and an engine cache of its own."""
    return {
        "GAN_SCORER_DIR": str(folder / "engine-cache" / "scorers"),
        "GAN_STATS_DIR": str(folder / "engine-cache" / "stats"),
        "ARTIFACTS_STORE": "s3",
        "ARTIFACTS_DIR": str(folder),
        "ARTIFACTS_S3_BUCKET": s3_settings.ARTIFACTS_S3_BUCKET,
        "ARTIFACTS_S3_ENDPOINT_URL": s3_settings.ARTIFACTS_S3_ENDPOINT_URL,
        "ARTIFACTS_S3_PREFIX": s3_settings.ARTIFACTS_S3_PREFIX,
        "ARTIFACTS_S3_MAX_ATTEMPTS": "3",
    }


def finished(model: Any, pk: int) -> Any:
    """The job once done; failed, its error."""
    wait_for(lambda: model.objects.get(pk=pk).status in (JobStatus.DONE, JobStatus.FAILED), 90, f"{model} {pk}")
    job = model.objects.get(pk=pk)
    assert job.status == JobStatus.DONE, job.error
    return job


def test_a_run_killed_on_one_host_resumes_on_another_from_the_bucket(start_worker, s3_settings, tmp_path):
    (first,) = start_worker("w1", env=host(s3_settings, tmp_path / "host-1"))
    run = actions.create_run(tiny_config(**LONG), name="survives its host")
    run = wait_for_run(
        run.pk, 60, "a first stored checkpoint", lambda r: r.status == RunStatus.RUNNING and r.step >= CHECKPOINT_EVERY
    )
    first.kill()
    store = artifact_store()
    killed_at = Checkpoint.objects.filter(run=run).order_by("-step").first()
    assert store.exists(killed_at.path), "a checkpoint's row is recorded only once the bucket holds it"
    time.sleep(settings.RUN_LEASE_SECONDS + 0.5)
    second_host = tmp_path / "host-2"  # empty: what it resumes from comes from the bucket
    start_worker("w2", env=host(s3_settings, second_host))
    run = wait_for_run(run.pk, 120, "w2 to finish the run", lambda r: r.status == RunStatus.DONE)

    # Exactly as a resume on one host: from the newest stored checkpoint, each step logged once.
    assert run.attempt == 2 and run.worker_host.startswith("w2@")
    assert run.resumed_from_step is not None and run.resumed_from_step >= killed_at.step
    log = "\n".join(run.events.values_list("message", flat=True))
    assert re.search(rf"resuming from the checkpoint of step {run.resumed_from_step}", log)
    assert log.count("training from step 0") == 1, "never from scratch again"
    losses = sorted(MetricPoint.objects.filter(run=run, name="loss_d").values_list("step", flat=True))
    assert losses == LOGGED

    # The bucket holds what the rows name, and no pruned checkpoint.
    kept = sorted(Checkpoint.objects.filter(run=run, pruned=False).values_list("path", flat=True))
    assert store.list(f"{run.run_dir_name}/checkpoints") == kept and len(kept) == run.config["run"]["keep_checkpoints"]
    on_second_host = sorted((second_host / run.run_dir_name / "checkpoints").glob("step_*.pt"))
    assert [path.name for path in on_second_host] == [Path(path).name for path in kept]
    metrics = store.read_bytes(f"{run.run_dir_name}/metrics.jsonl").decode().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == LOGGED
    assert store.exists(f"{run.run_dir_name}/config.json") and store.exists(f"{run.run_dir_name}/labelled.json")


def test_pools_and_classifiers_written_on_one_host_serve_the_others(start_worker, s3_settings, tmp_path, staff_client):
    client = staff_client
    (first,) = start_worker("gpu-host", env=host(s3_settings, tmp_path / "gpu-host"))
    run = actions.create_run(tiny_config(), name="sampled on another host")
    run = wait_for_run(run.pk, 90, "the run to finish", lambda r: r.status == RunStatus.DONE)
    generated = finished(ImagePool, actions.sample_pool(run, size=12).pk)
    trained = actions.train_domain_classifier("digits", epochs=1, min_accuracy=0, limit=300)
    classifier = finished(DomainClassifier, trained.pk)
    first.kill()

    # A host with nothing of its own: it scores the pool with the classifier the other host trained.
    start_worker("cpu-host", env=host(s3_settings, tmp_path / "cpu-host"))
    real = finished(ImagePool, actions.draw_real_pool("digits", size=12).pk)
    score = actions.score_pool(generated, scorer="digits_cnn", real_split="test", real_n=100)
    score = finished(PoolScore, score.pk)
    assert score.values["weights_sha256"] == classifier.weights_sha256
    assert not (settings.ARTIFACTS_DIR / generated.path).exists(), "the web host holds no copy of the pool"
    manifest = pool_files.manifest(generated)
    assert [entry["scorer"] for entry in manifest["scores"]] == ["digits_cnn"], "the scored manifest is stored"

    # One web host opens the study (the study's copies of the images go to the bucket); another serves them.
    s3_settings.ANNOTATION_MIN_ANSWER_MS, s3_settings.ANNOTATION_RATE_LIMIT = 0, 1_000_000  # a test's pace
    study = open_study([real, generated])
    settings.ARTIFACTS_DIR = tmp_path / "another-web-host"
    assignment = start(study)
    store = artifact_store()
    served = 0
    for position in range(4):
        state = client.get(reverse("annotation:state", args=[assignment.token])).json()
        token = state["item"]["token"]
        response = client.get(reverse("annotation:image", args=[token]))
        assert response.status_code == 200, response.content
        item = AssignmentItem.objects.select_related("item__pool", "item__study").get(token=token).item
        assert response.content == store.read_bytes(f"studies/{item.study.public_id}/{item.pk}.png")
        pool_image = store.read_bytes(f"{item.pool.path}/{item.file}")
        assert np.array_equal(pixels(response.content), pixels(pool_image)), "the pixels the worker wrote"
        body = json.dumps({"item": token, "answer": "real", "response_ms": 900 + position})
        answer = reverse("annotation:answer", args=[assignment.token])
        response = client.post(answer, body, content_type="application/json")
        assert response.status_code == 200, response.content
        served += 1
    assert served == 4 and not (settings.ARTIFACTS_DIR / "pools").exists()

    # The dashboard's sample grids, from the bucket too.
    assert client.get(reverse("runs:detail", args=[run.pk])).context["grids"] == [4, 8]
    for query, stored in (("", run.sample_grid), ("?grid=4", f"{run.run_dir_name}/samples/step_00000004.png")):
        grid = client.get(reverse("runs:sample", args=[run.pk]) + query)
        assert grid.status_code == 200 and b"".join(grid.streaming_content) == store.read_bytes(stored)
    assert not (settings.ARTIFACTS_DIR / "runs").exists()


def pixels(data: bytes) -> Any:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"))
