"""Pools end to end with a real worker: sample a trained run, draw real images, train the domain
classifier, score the pool with it (IS and FID become points of the run's series), and a scorer whose
weights are missing fails the job with the engine's instructions."""

from __future__ import annotations

import json

import pytest

from runs import actions
from runs.models import (
    DomainClassifier,
    ImagePool,
    JobStatus,
    MetricKind,
    MetricPoint,
    PoolScore,
    RunStatus,
    TrainingRun,
)
from testkit.factories import tiny_config
from testkit.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _finished(model, pk: int, timeout: float = 90):
    def probe():
        job = model.objects.get(pk=pk)
        return job if job.status in (JobStatus.DONE, JobStatus.FAILED) else None

    job = wait_for(probe, timeout, f"{model.__name__} {pk}")
    return job


def test_sample_score_and_train_the_domain_classifier(start_worker, tmp_path):
    start_worker(
        "w1",
        env={
            "GAN_SCORER_DIR": str(tmp_path / "scorers"),
            "GAN_STATS_DIR": str(tmp_path / "stats"),
            "GAN_INCEPTION_WEIGHTS": str(tmp_path / "absent-inception.pth"),
        },
    )
    run = actions.create_run(tiny_config(), name="to sample")
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status == RunStatus.DONE, 90, "training")

    pool = _finished(ImagePool, actions.sample_pool(run, size=40, seed=7).pk)
    assert pool.status == JobStatus.DONE, pool.error
    manifest = json.loads((pool.folder / "pool.json").read_text())
    assert (manifest["kind"], manifest["count"], manifest["source"]["step"]) == ("generated", 40, 8)
    assert [entry["seed"] for entry in manifest["files"]] == list(range(7, 47))
    assert len(list(pool.folder.glob("*.png"))) == 40
    assert not list(pool.folder.parent.glob("*.partial-*")), "no half-written folder is left"

    real = _finished(ImagePool, actions.draw_real_pool("digits", size=30, seed=1, split="test").pk)
    assert real.status == JobStatus.DONE, real.error
    assert json.loads((real.folder / "pool.json").read_text())["kind"] == "real"

    classifier = _finished(
        DomainClassifier, actions.train_domain_classifier("digits", epochs=1, min_accuracy=0.0, limit=300).pk
    )
    assert classifier.status == JobStatus.DONE, classifier.error
    assert classifier.scorer == "digits_cnn" and len(classifier.weights_sha256) == 64
    assert 0 < classifier.test_accuracy <= 1

    score = _finished(PoolScore, actions.score_pool(pool, scorer="digits_cnn", real_split="test", real_n=100).pk)
    assert score.status == JobStatus.DONE, score.error
    assert score.values["weights_sha256"] == classifier.weights_sha256
    assert score.values["is_mean"] >= 1 and "fid" in score.values and "image_kl" not in score.values
    points = MetricPoint.objects.filter(run=run, kind=MetricKind.SCORE, step=8)
    assert {p.name for p in points} == {"IS (digits_cnn)", "FID (digits_cnn)", "C2ST accuracy"}
    # The two-sample test ran against held-out real digits: a tiny run's samples are easy to tell apart.
    assert 0.5 <= score.values["c2st_accuracy"] <= 1 and score.values["c2st_n_test"] == 40
    assert score.values["c2st_ci_low"] <= score.values["c2st_accuracy"] <= score.values["c2st_ci_high"]
    assert points.get(name="IS (digits_cnn)").std == pytest.approx(score.values["is_std"])
    assert json.loads((pool.folder / "pool.json").read_text())["scores"][0]["scorer"] == "digits_cnn"

    missing = _finished(PoolScore, actions.score_pool(pool, scorer="inception", fid=False).pk)
    assert missing.status == JobStatus.FAILED
    assert "absent-inception.pth not found" in missing.error and "get it with" in missing.error
