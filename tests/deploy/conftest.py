"""Fixtures of the deployment tests: the real granian, started with the systemd unit's command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit.deploy import REPO, answers, unit_command
from testkit.servers import free_port, wait_for


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def granian(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start the real granian with the web unit's arguments on a free port (one worker, to start fast); it
    is stopped before the test database goes."""
    servers: list[Server] = []

    def start(env: dict[str, str]) -> Server:
        argv = unit_command("visual-turing-lab-web.service")
        args = argv[argv.index(next(a for a in argv if a.endswith("/granian"))) + 1 :]
        port = free_port()
        args[args.index("--port") + 1] = str(port)
        log = tmp_path / f"granian-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "granian", *args, "--workers", "1"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(port, proc, log)
        servers.append(server)
        wait_for(lambda: answers(port) or proc.poll() is not None, 90, "granian to answer", log)
        assert proc.poll() is None, f"granian exited:\n{log.read_text()}"
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=30)
