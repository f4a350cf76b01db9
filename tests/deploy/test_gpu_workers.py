"""deploy/gpu_workers.py: one worker per GPU, each pinned to its GPU; GPUs from --gpus, CUDA_VISIBLE_DEVICES or
nvidia-smi; signals passed on. The commands are checked without a GPU, and real workers on the test Redis
answer under their names and stop on the launcher's SIGTERM."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.deploy import DEPLOY, REPO, gpu_workers, unit_command
from testkit.servers import children, wait_for
from webapp.celery import app

SCRIPT = DEPLOY / "gpu_workers.py"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO,
        env=env if env is not None else {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _plan(output: str) -> list[tuple[str, list[str]]]:
    lines = [shlex.split(line) for line in output.strip().splitlines()]
    return [(line[0], line[1:]) for line in lines]


def test_one_pinned_worker_per_listed_gpu():
    result = _run("--gpus", "0,1,3", "--dry-run")
    assert result.returncode == 0, result.stderr
    plan = _plan(result.stdout)
    assert [env for env, _ in plan] == ["CUDA_VISIBLE_DEVICES=0", "CUDA_VISIBLE_DEVICES=1", "CUDA_VISIBLE_DEVICES=3"]
    for gpu, (_, argv) in zip(("0", "1", "3"), plan):
        assert argv[:5] == [sys.executable, "-m", "celery", "-A", "webapp"]
        flags = " ".join(argv[5:])
        assert flags.startswith("worker -Q gpu ")
        for flag in ("--pool prefork", "--concurrency 1", "--prefetch-multiplier 1", "--max-tasks-per-child 1"):
            assert flag in flags
        assert argv[argv.index("-n") + 1] == f"gpu{gpu}@%h"


def test_the_same_worker_as_the_systemd_unit():
    """Whichever way a host starts its GPU workers, they behave alike."""
    (_, argv), *_ = _plan(_run("--gpus", "2", "--dry-run").stdout)
    unit = unit_command("visual-turing-lab-gpu-worker@.service")
    expanded = [arg.replace("%i", "2").replace("%%", "%") for arg in unit]
    assert sorted(argv[argv.index("worker") :]) == sorted(expanded[expanded.index("worker") :])


def test_gpus_come_from_cuda_visible_devices_then_nvidia_smi(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    given = _plan(_run("--dry-run", env={**env, "CUDA_VISIBLE_DEVICES": "2,5"}).stdout)
    assert [e for e, _ in given] == ["CUDA_VISIBLE_DEVICES=2", "CUDA_VISIBLE_DEVICES=5"]

    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0aa1c0de-0000-1111-2222-333344445555)'\n"
        "echo 'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-1bb1c0de-0000-1111-2222-333344445555)'\n"
    )
    fake.chmod(0o755)
    listed = _plan(_run("--dry-run", env={**env, "PATH": f"{fake.parent}:{env['PATH']}"}).stdout)
    assert [argv[argv.index("-n") + 1] for _, argv in listed] == ["gpu0@%h", "gpu1@%h"]

    nothing = _run("--dry-run", env={**env, "CUDA_VISIBLE_DEVICES": ""})
    assert nothing.returncode != 0 and "empty" in nothing.stderr
    wrong = _run("--dry-run", "--gpus", "0,all")
    assert wrong.returncode != 0 and "'all'" in wrong.stderr
    without = _run("--dry-run", env={**env, "PATH": str(tmp_path / "empty")})
    assert without.returncode != 0 and "nvidia-smi" in without.stderr


def test_a_gpu_split_by_mig_gives_one_worker_per_slice():
    listing = (
        "GPU 0: NVIDIA H200 (UUID: GPU-0aa1c0de-0000-1111-2222-333344445555)\n"
        "  MIG 3g.71gb     Device  0: (UUID: MIG-11111111-2222-3333-4444-555555555555)\n"
        "  MIG 3g.71gb     Device  1: (UUID: MIG-66666666-2222-3333-4444-555555555555)\n"
        "GPU 1: NVIDIA H200 (UUID: GPU-1bb1c0de-0000-1111-2222-333344445555)\n"
    )
    devices = gpu_workers().parse_listing(listing)
    assert devices == ["MIG-11111111-2222-3333-4444-555555555555", "MIG-66666666-2222-3333-4444-555555555555", "1"]
    plan = gpu_workers().commands(devices)
    assert [env["CUDA_VISIBLE_DEVICES"] for env, _ in plan] == devices
    assert [argv[argv.index("-n") + 1] for _, argv in plan] == ["mig-11111111@%h", "mig-66666666@%h", "gpu1@%h"]


def _answering(names: list[str]) -> bool:
    replies = app.control.ping(destination=names, timeout=1)
    return {name for reply in replies for name in reply} == set(names)


def _live_children(pid: int) -> list[int]:
    return [child for child in children(pid) if not _zombie(child)]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.slow
def test_real_workers_answer_per_gpu_and_stop_on_sigterm(tmp_path):
    # A solo pool here: the pool is the unit's business, tested above; this is about the processes.
    extra = ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,3"}
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--restart-delay", "0.5", "--", *extra],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        names = [f"gpu{gpu}@{socket.gethostname()}" for gpu in ("0", "3")]
        wait_for(lambda: _answering(names), 120, "both workers to answer", log)
        check = [sys.executable, str(SCRIPT), "--check", "--timeout", "1"]
        answered = subprocess.run(check, cwd=REPO, env=env, capture_output=True, text=True)
        assert answered.returncode == 0 and "2 answered" in answered.stdout, answered.stderr
        workers = {_environ(pid)["CUDA_VISIBLE_DEVICES"]: pid for pid in children(launcher.pid)}
        assert sorted(workers) == ["0", "3"]

        # A worker that dies is started again; the other one is left alone.
        os.kill(workers["3"], signal.SIGKILL)
        wait_for(lambda: workers["3"] not in children(launcher.pid) and _answering(names), 60, "a new gpu3", log)
        assert workers["0"] in children(launcher.pid)
        workers = {_environ(pid)["CUDA_VISIBLE_DEVICES"]: pid for pid in _live_children(launcher.pid)}
        assert sorted(workers) == ["0", "3"]
        workers = list(workers.values())

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 0, log.read_text()
        assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in workers)
        assert not app.control.ping(destination=names, timeout=1)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in children(launcher.pid):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
