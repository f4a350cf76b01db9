"""Helpers of the web tests: waiting on the database, counting queued messages, worker processes, a Redis
of a test's own. Importable before Django is set up (bench/faults uses them to set up its own)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from runs.models import TrainingRun


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (zombies included), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


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
    from runs.models import TrainingRun

    def probe() -> TrainingRun | None:
        run = TrainingRun.objects.get(pk=run_id)
        return run if check(run) else None

    try:
        return wait_for(probe, timeout, what)
    except AssertionError as exc:
        run = TrainingRun.objects.get(pk=run_id)
        log = "\n".join(e.message for e in run.events.order_by("id"))
        raise AssertionError(f"{exc}; run is {run.status} at step {run.step}; its log:\n{log}") from None


def free_port() -> int:
    """A port free now (a race with another process taking it first is possible and harmless here)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A ``redis-server`` child on a port and folder of its own, to stop and start without touching the
    shared one; ``restart`` keeps both, as a service restart does, so that what it persisted (AOF) is what
    it finds again. ``options`` are redis-server's (``--appendonly yes`` ...)."""

    def __init__(self, folder: Path, *options: str):
        self.folder, self.options, self.port = folder, options, free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        command += ["--daemonize", "no", "--save", "", *self.options]
        with (self.folder / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.folder / 'redis.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within 20 s")

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Stop it with ``sig`` and wait for the process to go; returns how long that took."""
        began = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=60)
        self.proc = None
        return time.monotonic() - began

    def restart(self, sig: int = signal.SIGTERM, down: float = 0.0) -> float:
        """Stop, stay down ``down`` seconds, start again on the same port and folder; returns the outage."""
        began = time.monotonic()
        self.stop(sig)
        time.sleep(down)
        self.start()
        return time.monotonic() - began
