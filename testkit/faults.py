"""What the fault scenarios of bench/faults share: a private Redis, a database of their own on the shared
PostgreSQL, Celery workers and beat started as the deploy files start them, and a clean-up that removes all of it,
even when the scenario fails or is interrupted.

    with Stack("worker_kill", {"RUN_LEASE_SECONDS": "3"}) as stack:   # Django is set up from here on
        gpu = stack.start_workers("w1", "w2")
        stack.start_beat()

The private Redis runs on a free port as a child process, so that restarting or killing it touches no one
else's queues; the database is created on the server of ``FAULTS_POSTGRES_URL`` (default: the local one, as
the tests use) and migrated with ``manage.py migrate``. Worker processes are testkit.servers' ``Worker``: SIGKILL
to the whole process group is a machine lost. ``FAULTS_KEEP_LOGS=1`` keeps the temporary folder (the logs
of workers, beat and Redis, the artifacts) instead of deleting it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from testkit.servers import Database, RedisServer, Worker, wait_for

REPO = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get("FAULTS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _group_signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class Stack:
    """Temp folder, private Redis, own database, Django set up on them, and every process started through
    it; ``__exit__`` undoes all of it in reverse order (processes first, the database last but one)."""

    def __init__(self, name: str, env: dict[str, str], redis_options: tuple[str, ...] = ()):
        self.name, self.settings_env, self.redis_options = name, env, redis_options
        self.processes: list[Worker] = []
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Stack:
        # A SIGTERM (a CI job cancelled) unwinds through the finally blocks as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            self._set_up()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    def _set_up(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"vtl-fault-{self.name}-"))
        if os.environ.get("FAULTS_KEEP_LOGS"):
            # The logs of workers, beat and Redis, to see why a figure is what it is.
            self._exit.callback(print, f"logs kept in {self.tmp}")
        else:
            self._exit.callback(shutil.rmtree, self.tmp, ignore_errors=True)
        self.redis = RedisServer(self.tmp / "redis", *self.redis_options)
        self._exit.callback(self.redis.stop, signal.SIGKILL)
        self.redis.start()
        self.database = Database(f"vtl_fault_{self.name}_{os.getpid()}", SERVER_URL)
        self._exit.callback(self.database.drop)
        self.database.create()
        self.env = {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "fault-scenarios-only-not-secret",
            "DATABASE_URL": self.database.url,
            "REDIS_URL": self.redis.url,
            "CELERY_KEY_PREFIX": "",
            "WEBAPP_DATA_DIR": str(self.tmp / "data"),
            "WEBAPP_LOG_LEVEL": "INFO",
            # One thread per trainer: tiny models gain nothing from more, and threads fighting over shared
            # cores make each step tens of times slower (as in tests/runs).
            "OMP_NUM_THREADS": "1",
            **self.settings_env,
        }
        os.environ.update(self.env)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=os.environ, check=True
        )
        import django

        django.setup()
        from django.db import connections

        # Registered after the drop, so run before it: this process's connections would hold the drop off.
        self._exit.callback(connections.close_all)
        self._exit.callback(self._stop_processes)

    def _spawn(self, name: str, command: list[str]) -> Worker:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, cwd=REPO, env=os.environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        process = Worker(name, proc, log)
        self.processes.append(process)
        return process

    def _wait_started(self, processes: list[Worker], mark: str) -> None:
        for process in processes:
            wait_for(lambda p=process: mark in p.output() or p.proc.poll() is not None, 90, f"{process.name} to start")
            if process.proc.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.output()[-4000:]}")

    def start_workers(
        self,
        *names: str,
        queues: str = "gpu,cpu",
        pool: str = "prefork",
        concurrency: int = 1,
        fresh_child: bool = True,
    ) -> list[Worker]:
        """``celery -A webapp worker`` as deploy/ starts a GPU worker: one task at a time, nothing prefetched,
        and (``fresh_child``, prefork only) a new pool child for every task."""
        command = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", queues, "--pool", pool]
        command += ["--concurrency", str(concurrency), "--prefetch-multiplier", "1", "--loglevel", "INFO"]
        if fresh_child and pool == "prefork":
            command += ["--max-tasks-per-child", "1"]
        started = [self._spawn(name, [*command, "-n", f"{name}@%h"]) for name in names]
        self._wait_started(started, " ready.")
        return started

    def start_beat(self) -> Worker:
        """``celery -A webapp beat`` as deploy/compose.yaml runs it: the recovery sweep every RUN_LEASE_SECONDS."""
        command = [sys.executable, "-m", "celery", "-A", "webapp", "beat", "--loglevel", "INFO"]
        beat = self._spawn("beat", [*command, "--schedule", str(self.tmp / "celerybeat-schedule")])
        self._wait_started([beat], "beat: Starting")
        return beat

    def stop(self, process: Worker, timeout: float = 60) -> None:
        """A warm shutdown (SIGTERM to the main process, as systemd and docker stop it), then SIGKILL."""
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.proc.wait(timeout=timeout)
        process.kill()

    def _stop_processes(self) -> None:
        for process in self.processes:
            # The whole group even when its leader is gone: a prefork child may outlive its parent.
            _group_signal(process.proc, signal.SIGKILL)
            process.proc.wait(timeout=30)


def checkpoint_steps(folder: Path) -> list[int]:
    """Steps of the complete checkpoint files in a run's folder (a ``.tmp`` is a write cut short)."""
    return sorted(int(path.stem.removeprefix("step_")) for path in (folder / "checkpoints").glob("step_*.pt"))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that hold one instant (an interval's end does not meet the next's start)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, delta in edges:
        current += delta
        most = max(most, current)
    return most
