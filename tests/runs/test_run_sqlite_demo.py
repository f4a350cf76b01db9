"""The fresh-machine path: no DATABASE_URL and no REDIS_URL, so SQLite and the file broker, driven by the
demo command and a real worker process, as ``make demo`` runs them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from run_support import wait_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_demo_trains_on_sqlite_through_the_file_broker(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))},
        "DJANGO_DEBUG": "1",
        "WEBAPP_DATA_DIR": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }
    manage = [sys.executable, "manage.py", "demo_web", "--steps", "4", "--password", "demo-pass-1"]
    first = subprocess.run(manage, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert "username: admin\n  password: demo-pass-1" in first.stdout
    assert "celery -A webapp worker" in first.stdout and "the file broker" in first.stdout
    assert list((tmp_path / "broker" / "queue").iterdir()), "the run's task waits in the file broker"

    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "gpu,cpu", "--concurrency", "1",
         "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    database = tmp_path / "webapp.sqlite3"

    def run_row() -> tuple[str, int] | None:
        with sqlite3.connect(database) as db:
            row = db.execute("select status, step from runs_trainingrun").fetchone()
        return row if row and row[0] in ("done", "failed") else None

    try:
        status, step = wait_for(run_row, 240, "the demo run to finish")
    finally:
        worker.kill()
        worker.wait()
        log.close()
    assert (status, step) == ("done", 4), (tmp_path / "worker.log").read_text()[-3000:]
    (run_dir,) = (tmp_path / "artifacts" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "step_00000004.pt").is_file()

    again = subprocess.run(manage, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert "already there (done)" in again.stdout, "a second demo reuses the run"
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from runs_trainingrun").fetchone() == (1,)
