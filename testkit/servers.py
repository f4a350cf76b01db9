"""Servers and processes the tests and benchmarks start and wait on: worker processes, a Redis of their own, a
PostgreSQL database of their own, free ports, waiting, counting queued messages. Importable before Django is set
up (the benchmarks set it up on what they start here)."""

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
from urllib.parse import urlsplit, urlunsplit

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


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    """``predicate``'s first true value, polled; on timeout an error that names ``what`` (and shows ``log``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f":\n{log.read_text()}" if log else ""))


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


class Database:
    """A database of its own on a shared PostgreSQL server, dropped at the end whoever is connected."""

    def __init__(self, name: str, server_url: str):
        self.name, self.server_url = name, server_url

    @classmethod
    def at(cls, database_url: str) -> Database:
        """The database a URL names, on its server (reached through the server's ``postgres`` database)."""
        parts = urlsplit(database_url)
        return cls(parts.path.lstrip("/"), urlunsplit(parts._replace(path="/postgres")))

    @property
    def url(self) -> str:
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{self.name}"))

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        """A fresh, empty database (an older one of the same name is dropped first)."""
        self.drop()
        self._execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def server_version(self) -> str:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
