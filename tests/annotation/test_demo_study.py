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
from webapp.runs import engine
from webapp.runs.demo import DEMO_NAME
from webapp.runs.models import Checkpoint, ImagePool, RunStatus, TrainingRun

REPO = Path(__file__).resolve().parents[2]
# A second of training on the CPU: scikit-learn's digits, a tenth of the paper's widths.
TINY = {
    "data": {"dataset": "digits", "labels": 20},
    "model": {"width": 0.1},
    "optim": {"batch_size": 20, "steps": 4},
    "run": {"log_every": 2, "eval_every": 4, "sample_every": 4, "checkpoint_every": 2, "init_examples": 60},
}


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

    config = engine.build_config("improved_gan_ssl", TINY)
    run = TrainingRun.objects.create(
        name=DEMO_NAME,
        config=config.to_dict(),
        recipe=config.recipe,
        dataset=config.data.dataset,
        total_steps=config.optim.steps,
        status=RunStatus.DONE,
    )
    result = train(config, run.run_dir)
    path = Path(result.checkpoint).resolve().relative_to(settings.ARTIFACTS_DIR)
    Checkpoint.objects.create(run=run, step=result.step, path=str(path))
    return run


def test_demo_study_opens_a_study_on_pools_a_worker_wrote(worker, client):
    run = trained_demo_run()
    out = io.StringIO()
    started = time.monotonic()
    call_command("demo_study", size=12, items=6, judgments=2, wait=180, host="lab.example:8000", stdout=out)
    study = Study.objects.get()
    assert study.status == Study.Status.OPEN and study.feedback == "randomised"
    pools = {pool.kind: pool for pool in ImagePool.objects.all()}
    assert pools["generated"].run_id == run.pk and pools["real"].dataset == run.dataset
    assert StudyItem.objects.filter(study=study, pool=pools["real"]).count() == 12
    assert StudyItem.objects.filter(study=study, pool=pools["generated"]).count() == 12
    printed = out.getvalue()
    assert f"http://lab.example:8000{study.entry_path}" in printed
    assert f"http://lab.example:8000/studies/{study.pk}/" in printed
    assert client.get(study.entry_path).status_code == 200
    assert time.monotonic() - started < 180
    again = io.StringIO()
    call_command("demo_study", host="lab.example:8000", stdout=again)
    assert "already open" in again.getvalue() and Study.objects.count() == 1


def test_demo_study_without_a_finished_run_says_what_to_do(db):
    with pytest.raises(CommandError, match="demo_web"):
        call_command("demo_study", stdout=io.StringIO())
