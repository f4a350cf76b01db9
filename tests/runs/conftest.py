"""Fixtures of the web tests: users, a logged-in staff client, real Celery worker processes, Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from testkit.factories import StaffFactory, UserFactory
from testkit.servers import Worker, wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def staff(db: None) -> Any:
    return StaffFactory()


@pytest.fixture
def staff_client(client: Any, staff: Any) -> Any:
    client.force_login(staff)
    return client


@pytest.fixture
def researcher_user(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test Redis, emptied of this session's queues before the test."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    prefix = os.environ["CELERY_KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    yield client
    client.close()


@pytest.fixture
def start_worker(transactional_db: None, broker: redis.Redis, tmp_path: Path) -> Iterator[Callable[..., list[Worker]]]:
    """Start real ``celery -A webapp worker`` processes on this test's database and the test Redis.

    The pool is prefork with one child, as on a GPU machine: the parent never imports torch (the child
    is kept between tasks here, to spare each task a torch import). Workers are killed at the end of
    the test, before the database goes.
    """
    workers: list[Worker] = []
    db = connection.settings_dict
    database_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"

    def start(*names: str, env: dict[str, str] | None = None) -> list[Worker]:
        started = [_spawn(name, env=env) for name in names]
        for worker in started:
            wait_for(
                lambda w=worker: " ready." in w.output() or w.proc.poll() is not None, 60, f"{worker.name} to start"
            )
            assert worker.proc.poll() is None, f"worker {worker.name} exited:\n{worker.output()}"
        return started

    def _spawn(name: str, *, env: dict[str, str] | None) -> Worker:
        log = tmp_path / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "-n", f"{name}@%h", "-Q", "gpu,cpu", "--pool", "prefork", "--concurrency", "1",
            "--prefetch-multiplier", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                cwd=REPO,
                # One thread: tiny models gain nothing from more, and threads fighting over two shared
                # cores make each step tens of times slower.
                env={**os.environ, "DATABASE_URL": database_url, "OMP_NUM_THREADS": "1", **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, proc, log)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()
