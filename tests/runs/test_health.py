"""``/health/`` against the real PostgreSQL, Redis and worker processes: what it reports, what it hides, and
that a dead dependency answers 503 within its bounded wait."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from webapp import health
from webapp.celery import app

REPO = Path(__file__).resolve().parents[2]


def _get(client, **extra):
    response = client.get("/health/", **extra)
    return response, response.json()


def _hides_the_servers(text: str) -> None:
    db = connection.settings_dict
    for secret in (os.environ["REDIS_URL"], "6379", str(db["HOST"]), str(db["PORT"]), str(db["NAME"])):
        assert secret not in text, f"/health/ reveals {secret!r}: {text}"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung server, not a refused one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_without_workers_the_web_process_is_healthy_but_degraded(client, db, broker):
    response, body = _get(client)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert body["status"] == "degraded"
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True, "transport": "redis"}
    assert body["workers"] == {"ok": False, "count": 0, "queues": {"cpu": 0, "gpu": 0}, "missing": ["cpu", "gpu"]}
    _hides_the_servers(response.content.decode())


def test_a_worker_answers_the_ping_with_its_queues(client, staff, start_worker):
    start_worker("health")
    response, body = _get(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["workers"] == {"ok": True, "count": 1, "queues": {"cpu": 1, "gpu": 1}, "missing": []}
    _hides_the_servers(response.content.decode())
    # Worker names carry their hosts' names: staff only.
    client.force_login(staff)
    _, body = _get(client)
    assert body["workers"]["names"] == {f"health@{socket.gethostname()}": ["cpu", "gpu"]}


def test_probes_come_by_address_over_plain_http(client, db, broker, settings):
    """A container's probe names no allowed host and does not follow the HTTPS redirect."""
    settings.ALLOWED_HOSTS = ["lab.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400
    assert client.get("/runs/", HTTP_HOST="lab.example.org").status_code == 301
    response, body = _get(client, HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200 and body["database"]["ok"] and body["broker"]["ok"]


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_a_broker_that_is_down_gives_503_naming_it_quickly(client, db, monkeypatch, silent_port, server):
    port = silent_port if server == "silent" else _closed_port()
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    response, body = _get(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is False and body["broker"]["error"]
    assert body["workers"]["ok"] is False
    bound = health.BROKER_TIMEOUT + health.WORKER_PING_TIMEOUT
    assert elapsed < bound + 2, f"a {server} broker held the probe {elapsed:.1f}s"
    assert str(port) not in response.content.decode()


def test_a_database_that_is_down_gives_503_naming_it(tmp_path):
    """In a process of its own, whose DATABASE_URL points at a closed port (the broker is the real Redis)."""
    probe = "import django; django.setup(); from django.test import Client; r = Client().get('/health/'); "
    probe += "print(r.status_code, r.content.decode())"
    env = {**os.environ, "DATABASE_URL": f"postgresql://vtl:hunter2@127.0.0.1:{_closed_port()}/vtl"}
    env["WEBAPP_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    code, _, text = result.stdout.strip().partition(" ")
    body = json.loads(text)
    assert code == "503"
    assert body["status"] == "error"
    assert body["database"] == {"ok": False, "error": "OperationalError"}
    assert body["broker"]["ok"] is True
    assert "hunter2" not in text and "vtl" not in text


def test_the_file_broker_is_healthy_while_its_folders_are_writable(client, db, settings, tmp_path):
    folders = {name: tmp_path / name for name in ("queue", "control", "processed")}
    for folder in folders.values():
        folder.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]),
        "processed_folder": str(folders["processed"]),
    }
    assert health.check_broker()[0] == {"ok": True, "transport": "filesystem"}
    folders["control"].rmdir()
    broker, workers = health.check_broker()
    assert broker == {"ok": False, "transport": "filesystem", "error": "folders missing or not writable"}
    assert workers["ok"] is False
    response, body = _get(client)
    assert response.status_code == 503 and body["broker"]["transport"] == "filesystem"
    assert str(tmp_path) not in response.content.decode()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
