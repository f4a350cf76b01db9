"""Helpers of the web tests: waiting on the database, counting queued messages, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from webapp.runs.models import TrainingRun


def queued_messages(client: redis.Redis, queue: str) -> int:
    return int(client.llen(f"{os.environ['CELERY_KEY_PREFIX']}{queue}"))


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the worker and its pool children: a machine lost mid-run, no clean-up at all."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_run(run_id: int, timeout: float, what: str, check: Callable[[TrainingRun], bool]) -> TrainingRun:
    def probe() -> TrainingRun | None:
        run = TrainingRun.objects.get(pk=run_id)
        return run if check(run) else None

    try:
        return wait_for(probe, timeout, what)
    except AssertionError as exc:
        run = TrainingRun.objects.get(pk=run_id)
        log = "\n".join(e.message for e in run.events.order_by("id"))
        raise AssertionError(f"{exc}; run is {run.status} at step {run.step}; its log:\n{log}") from None
