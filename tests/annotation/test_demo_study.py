"""``manage.py demo_study`` against a real Celery worker: the pools are written by the worker (torch never loads in
the web process), then the study opens and the command prints its links."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from annotation.models import Study, StudyItem
from gan_engine.config import build_config
from runs.demo import DEMO_NAME
from runs.models import Checkpoint, DomainClassifier, ImagePool, PoolScore, RunStatus, TrainingRun

REPO = Path(__file__).resolve().parents[2]
# A second of training on the CPU: scikit-learn's digits, a tenth of the paper's widths.
TINY = {
    "data": {"dataset": "digits", "labels": 20},
    "model": {"width": 0.1},
    "optim": {"batch_size": 20, "steps": 4},
    "run": {"log_every": 2, "eval_every": 4, "sample_every": 4, "checkpoint_every": 2, "init_examples": 60},
}


@pytest.fixture(autouse=True)
def no_local_scorers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever weights this machine holds, the demo finds no scorer and trains the dataset's own (the worker
    inherits these variables)."""
    monkeypatch.setenv("GAN_SCORER_DIR", str(tmp_path / "scorers"))
    monkeypatch.setenv("GAN_STATS_DIR", str(tmp_path / "stats"))
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(tmp_path / "no-inception.pth"))


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One real worker on this test's database and the session's Redis queues (emptied first)."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    stale = list(client.scan_iter(match=f"{os.environ['CELERY_KEY_PREFIX']}*"))
    if stale:
        client.delete(*stale)
    client.close()
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    log = (tmp_path / "worker.log").open("wb")
    command = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-n", "demo-study@%h", "-Q", "gpu,cpu",
               "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()


def trained_demo_run() -> TrainingRun:
    from gan_engine.training.loop import train

    config = build_config("improved_gan_ssl", TINY)
    run = TrainingRun.objects.create(
        name=DEMO_NAME,
        config=config.to_dict(),
        recipe=config.recipe,
        dataset=config.data.dataset,
        total_steps=config.optim.steps,
        status=RunStatus.DONE,
    )
    train(config, run.run_dir)
    for file in sorted((run.run_dir / "checkpoints").glob("step_*.pt")):
        path = file.resolve().relative_to(settings.ARTIFACTS_DIR)
        Checkpoint.objects.create(run=run, step=int(file.stem.split("_")[1]), path=str(path))
    return run


def test_demo_study_sweeps_the_checkpoints_into_a_study_a_worker_opens(worker, client):
    run = trained_demo_run()
    out = io.StringIO()
    started = time.monotonic()
    call_command(
        "demo_study", size=12, items=6, judgments=2, wait=240, observers=0, host="lab.example:8000", stdout=out
    )
    study = Study.objects.get()
    assert study.status == Study.Status.OPEN and study.feedback == "randomised"
    assert study.items_per_assignment == 6 and study.judgments_per_item == 2
    real = ImagePool.objects.get(kind="real")
    generated = list(ImagePool.objects.filter(kind="generated").order_by("step"))
    assert real.dataset == run.dataset and [pool.step for pool in generated] == [2, 4], "every kept checkpoint"
    assert all(pool.run_id == run.pk for pool in generated)
    for pool in [real, *generated]:
        assert StudyItem.objects.filter(study=study, pool=pool).count() == 12
    for pool in generated:
        (score,) = PoolScore.objects.filter(pool=pool)
        assert score.status == "done" and "c2st_accuracy" in score.values, score.error
    assert DomainClassifier.objects.get().status == "done", "the dataset's classifier was trained to score them"
    printed = out.getvalue()
    assert f"http://lab.example:8000{study.entry_path}" in printed
    assert f"http://lab.example:8000/studies/{study.pk}/" in printed
    assert client.get(study.entry_path).status_code == 200
    assert time.monotonic() - started < 180
    again = io.StringIO()
    call_command("demo_study", host="lab.example:8000", observers=0, stdout=again)
    assert "already open" in again.getvalue() and Study.objects.count() == 1


def test_demo_study_without_a_finished_run_says_what_to_do(db):
    with pytest.raises(CommandError, match="demo_web"):
        call_command("demo_study", stdout=io.StringIO())
