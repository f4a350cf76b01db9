"""``manage.py demo``: the README's first command, the whole lab on embedded defaults.

Migrates the database (SQLite unless DATABASE_URL says otherwise), creates an admin account and prints its
credentials, starts a real Celery worker (tasks travel through the file broker unless REDIS_URL is set),
trains the engine's small demo run on Fashion-MNIST on the CPU, sweeps its checkpoints into a study mixing their
samples with real images, prints the annotator's link and the results page, serves the site until Ctrl-C, and lets
simulated observers take the study once the site answers. The worker stops
with the command however it ends: Ctrl-C, SIGTERM (``kill``, a service manager), SIGHUP (its terminal
closed), an error, even SIGKILL (the kernel then tells the worker, see ``_start_worker``).
Running it again reuses the account (new password), the run and the open study.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.urls import reverse

from annotation import demo as study_demo
from annotation.management.commands.demo_study import (
    add_study_arguments,
    ensure_study,
    simulate_observers,
    site_address,
)
from runs import actions, demo
from runs.management.commands.demo_web import account_lines
from runs.models import RunStatus, TrainingRun

POLL_SECONDS = 2.0
PR_SET_PDEATHSIG = 1
# Queues the demo's worker consumes: training (gpu, here on the CPU) and pools (cpu).
WORKER = ["-m", "celery", "-A", "webapp", "worker", "-n", "demo@%h", "-Q", "gpu,cpu", "--concurrency", "2",
          "--prefetch-multiplier", "1", "--beat", "--loglevel", "INFO"]  # fmt: skip


class Command(BaseCommand):
    help = "The whole demo: an admin account, a worker, a small run trained on the CPU, an open study, the site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="the admin's password (default: a new random one, printed)")
        parser.add_argument("--steps", type=int, help="training steps of the demo run (default: the engine demo's)")
        parser.add_argument("--no-serve", action="store_true", help="stop once the study is open (no web server)")
        add_study_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        account = demo.ensure_admin(password=options["password"])
        try:
            run, queued = demo.queue_demo_run(account.user, steps=options["steps"])
        except actions.RunError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("\n".join(account_lines(account)))
        self.stdout.write(f"demo run #{run.pk} {'queued' if queued else f'found ({run.status})'}")
        # Queued now, the classifier that scores the sweep's pools trains while the run does.
        study_demo.queue_demo_scorer(run.dataset)
        log = settings.DATA_DIR / "demo-worker.log"
        with _signals_end_the_command():
            worker = _start_worker(log)
            self._run_with(worker, run, log, options)

    def _run_with(self, worker: subprocess.Popen[bytes], run: TrainingRun, log: Path, options: dict[str, Any]) -> None:
        self.stdout.write(f"worker started (pid {worker.pid}, log {log})")
        try:
            self._wait_for(run, worker, log)
            study = ensure_study(self, options)
            host = options["host"]
            self.stdout.write(
                f"dashboard: http://{host}/runs/{run.pk}/  (admin: http://{host}{reverse('admin:index')})"
            )
            if not options["no_serve"]:
                self.stdout.write("serving the site; Ctrl-C stops it and the worker")
                _once_served(options, lambda: simulate_observers(self, study, options))
                call_command("runserver", host, use_reloader=False)
        finally:
            _stop(worker)

    def _wait_for(self, run: TrainingRun, worker: subprocess.Popen[bytes], log: Path) -> None:
        """Until the demo run is done, a line whenever it moves; an error if it fails or the worker dies."""
        shown = None
        while True:
            run.refresh_from_db()
            if run.status == RunStatus.DONE:
                self.stdout.write(f"demo run #{run.pk} done: {run.step} steps{_error(run)}")
                return
            if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
                raise CommandError(f"demo run #{run.pk} {run.status}: {run.error or 'see the dashboard'}")
            if worker.poll() is not None:
                raise CommandError(f"the worker exited ({worker.returncode}); its log {log} ends:\n{_tail(log)}")
            if (run.status, run.step) != shown:
                shown = (run.status, run.step)
                self.stdout.write(f"demo run #{run.pk} {run.status}: step {run.step}/{run.total_steps}{_error(run)}")
            time.sleep(POLL_SECONDS)


def _once_served(options: dict[str, Any], then: Callable[[], None]) -> None:
    """Call ``then`` from a thread of its own once the site answers (the simulated observers take the study over
    HTTP, from the server this process is about to start)."""

    def wait_then() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(site_address(options) + "/", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                time.sleep(0.5)
        try:
            then()
        finally:
            connections.close_all()

    threading.Thread(target=wait_then, name="demo-observers", daemon=True).start()


def _error(run: TrainingRun) -> str:
    point = run.metric_points.filter(name="test_error").order_by("-step").first()
    return "" if point is None else f", test error {100 * point.value:.1f}% at step {point.step}"


@contextlib.contextmanager
def _signals_end_the_command() -> Iterator[None]:
    """SIGTERM and SIGHUP would end the process at once, skipping the ``finally`` that stops the worker (which
    lives in a session of its own, so nothing else reaches it): turn them into an exit that unwinds like Ctrl-C."""

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _die_with_parent() -> None:
    # Linux's PR_SET_PDEATHSIG: when the demo dies with no chance to stop the worker (SIGKILL), the kernel
    # sends the worker SIGQUIT, Celery's cold shutdown, which ends its running task too.
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)


def _start_worker(log: Path) -> subprocess.Popen[bytes]:
    # Its own session, so that stopping it reaches its pool children and beat, and Ctrl-C reaches only us.
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *WORKER],
            cwd=settings.BASE_DIR,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """Stop the worker's whole process group: its pool's children can outlive the main process by a moment (or
    for good, on a busy machine), and none may be left behind."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=30)
    _await_group(worker.pid, seconds=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    _await_group(worker.pid, seconds=10)  # the killed are reaped by init, a moment later


def _await_group(pgid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
