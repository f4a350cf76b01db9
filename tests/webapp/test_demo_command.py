"""``make demo`` on a fresh machine's defaults: no DATABASE_URL and no REDIS_URL, so SQLite and the file broker,
a real worker process started by the command itself, a run trained, a study opened, and the site served."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _get(url: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_demo_trains_opens_a_study_and_serves_it_on_embedded_defaults(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))},
        "DJANGO_DEBUG": "1",
        "WEBAPP_DATA_DIR": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }
    port = _free_port()
    demo = [sys.executable, "manage.py", "demo", "--steps", "4", "--size", "12", "--items", "8", "--judgments", "2",
            "--password", "demo-pass-1", "--host", f"127.0.0.1:{port}"]  # fmt: skip
    first = subprocess.run([*demo, "--no-serve"], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    log = tmp_path / "demo-worker.log"
    assert first.returncode == 0, first.stdout + first.stderr + (log.read_text()[-3000:] if log.exists() else "")
    out = first.stdout
    assert "username: admin\n  password: demo-pass-1" in out
    assert "demo run #1 done: 4 steps, test error" in out
    link = re.search(rf"annotator link .*: (http://127\.0\.0\.1:{port}/s/\S+/)", out).group(1)
    assert f"results page (staff login): http://127.0.0.1:{port}/studies/1/" in out
    worker_pid = int(re.search(r"worker started \(pid (\d+)", out).group(1))
    assert not _alive(worker_pid), "the worker stops with the command"

    with sqlite3.connect(tmp_path / "webapp.sqlite3") as db:
        assert db.execute("select status, step from runs_trainingrun").fetchall() == [("done", 4)]
        assert db.execute("select status from annotation_study").fetchall() == [("open",)]
        # The sweep: a pool of each of the 4 checkpoints (one every quarter of the steps), and a real one.
        assert db.execute("select kind, step, size from runs_imagepool order by kind, step").fetchall() == [
            *(("generated", step, 12) for step in (1, 2, 3, 4)),
            ("real", None, 12),
        ]
        assert db.execute("select count(*) from runs_poolscore where status = 'done'").fetchone() == (4,)
    (run_dir,) = (tmp_path / "artifacts" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "step_00000004.pt").is_file()

    # Again, serving this time: it reuses everything, and the printed links answer.
    served = subprocess.Popen(demo, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Reading its output blocks until a line comes: should the lines awaited never come, the demo is stopped, its
    # output ends, and the assertions below say what it printed instead of the test hanging.
    watchdog = threading.Timer(400, served.send_signal, args=(signal.SIGINT,))
    watchdog.start()
    try:
        lines = []
        for line in served.stdout:
            lines.append(line)
            if "serving the site" in line:
                break
        for line in served.stdout:
            lines.append(line)
            if "results of the simulated observers" in line:
                break
        printed = "".join(lines)
        assert "found (done)" in printed and "already open" in printed, printed
        assert "simulated observers took study #1" in printed, printed
        # Over the 4 pools of the sweep, from the simulated observers alone: a correlation with its interval.
        assert re.search(r"against FID \(\w+\) over 4 pools: Pearson r = -?[\d.]+ \[-?[\d.]+, -?[\d.]+\]", printed), (
            printed
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                status = _get(link)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, printed
                time.sleep(0.3)
        assert status == 200
        assert _get(f"http://127.0.0.1:{port}/runs/1/") == 302, "the dashboard asks for the admin's login"
        worker_pid = int(re.search(r"worker started \(pid (\d+)", printed).group(1))
        assert _alive(worker_pid)
    finally:
        watchdog.cancel()
        served.send_signal(signal.SIGINT)
        served.wait(timeout=60)
    assert not _alive(worker_pid), "Ctrl-C stops the worker too"
    with sqlite3.connect(tmp_path / "webapp.sqlite3") as db:
        assert db.execute("select count(*) from runs_trainingrun").fetchone() == (1,)
        assert db.execute("select count(*) from annotation_study").fetchone() == (1,)


@pytest.mark.parametrize(
    ("sig", "serving"),
    [(signal.SIGTERM, False), (signal.SIGHUP, False), (signal.SIGKILL, False), (signal.SIGTERM, True)],
    ids=["SIGTERM-training", "SIGHUP-training", "SIGKILL-training", "SIGTERM-serving"],
)
def test_the_demo_stopped_by_a_signal_stops_its_worker(tmp_path, sig, serving):
    """``kill``, a service manager's stop, a closed terminal, even SIGKILL, while the demo run trains or
    while the site is served: no worker is left running."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))},
        "DJANGO_DEBUG": "1",
        "WEBAPP_DATA_DIR": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }
    demo = [sys.executable, "manage.py", "demo", "--password", "p"]
    if serving:
        demo += [
            "--steps",
            "4",
            "--size",
            "12",
            "--items",
            "6",
            "--judgments",
            "2",
            "--host",
            f"127.0.0.1:{_free_port()}",
        ]
    else:  # long enough that the run is still training when the signal comes
        demo += ["--steps", "100000", "--no-serve"]
    proc = subprocess.Popen(demo, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # A demo that never gets there fails the test rather than hanging the suite.
    watchdog = threading.Timer(400, proc.kill)
    watchdog.start()
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if ("serving the site" if serving else "worker started") in line:
                break
        if serving:
            time.sleep(1)  # into runserver's loop
        worker_pid = int(re.search(r"worker started \(pid (\d+)", "".join(lines)).group(1))
        assert _alive(worker_pid)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 40
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(worker_pid)
    if alive:
        os.killpg(worker_pid, signal.SIGKILL)
    assert not alive, f"the worker outlived the demo's {sig.name}"
    if sig != signal.SIGKILL:
        assert proc.returncode == 128 + sig, "the demo exits with the shell's code of the signal"
