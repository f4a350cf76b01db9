#!/usr/bin/env python3
"""One Celery worker per GPU of this host, each seeing only its own GPU: the GPU queue's entry point on a
host with several (compose's worker-gpu service runs it; systemd's template unit is the per-GPU alternative).

    python deploy/gpu_workers.py                  # every GPU that `nvidia-smi -L` lists
    python deploy/gpu_workers.py --gpus 0,1,3     # these (or CUDA_VISIBLE_DEVICES=0,1,3 in the environment)
    python deploy/gpu_workers.py --dry-run        # print the commands, start nothing
    python deploy/gpu_workers.py --check          # exit 0 only if every one of them answers a ping
    python deploy/gpu_workers.py -- --loglevel DEBUG   # arguments after -- go to each worker

Worker i is ``gpu<i>@<host>`` with ``CUDA_VISIBLE_DEVICES=<i>`` (on a GPU split by MIG, one per slice:
``mig-<uuid prefix>``): one run per GPU (one pool child, nothing prefetched), and a fresh child per run so that
a finished run's GPU memory goes back to the driver. The parent of a prefork pool never imports torch, so CUDA
is initialised only in the child, after the fork; the parent stays free to answer pings while its child trains
(a solo pool would fall silent for the whole run).

SIGTERM, SIGINT and SIGQUIT are passed to every worker, and this process exits once they all have. A worker
that exits on its own is started again after a pause, without touching the others (their runs go on).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

WORKER_ARGS = (
    "worker", "-Q", "gpu", "--pool", "prefork", "--concurrency", "1", "--prefetch-multiplier", "1",
    "--max-tasks-per-child", "1", "--loglevel", "INFO",
)  # fmt: skip


def discover_gpus(explicit: str | None = None) -> list[str]:
    """``explicit`` (a comma-separated list), else ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``."""
    if explicit is None:
        explicit = os.environ.get("CUDA_VISIBLE_DEVICES")
    if explicit is not None:
        gpus = [item.strip() for item in explicit.split(",") if item.strip()]
        if not gpus:
            raise SystemExit("gpu_workers: the list of GPUs is empty (--gpus or CUDA_VISIBLE_DEVICES)")
        for gpu in gpus:
            if not re.fullmatch(r"\d+|(GPU|MIG)-[0-9A-Za-z/-]+", gpu):
                raise SystemExit(f"gpu_workers: {gpu!r} is neither a GPU index nor a GPU/MIG UUID")
        return gpus
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"gpu_workers: cannot list the GPUs with nvidia-smi -L ({exc}); pass --gpus") from None
    gpus = parse_listing(listing)
    if not gpus:
        raise SystemExit(f"gpu_workers: nvidia-smi -L lists no GPU:\n{listing}")
    return gpus


def parse_listing(listing: str) -> list[str]:
    """The devices of ``nvidia-smi -L``: each GPU's index, or on a GPU split by MIG each slice's UUID (CUDA sees
    one MIG slice per process, named by its UUID)."""
    devices: list[str] = []
    for line in listing.splitlines():
        if gpu := re.match(r"GPU (\d+):", line):
            devices.append(gpu[1])
        elif mig := re.match(r"\s+MIG .*\(UUID: (MIG-[^)\s]+)\)", line):
            if devices and devices[-1].isdigit():
                devices.pop()  # the whole GPU is not usable once it is split
            devices.append(mig[1])
    return devices


def worker_name(gpu: str) -> str:
    """``gpu<index>``; for a GPU or MIG UUID, ``gpu-``/``mig-`` and the UUID's first 8 characters (stable, and
    never taken by an index's name)."""
    if gpu.isdigit():
        return f"gpu{gpu}"
    kind, _, uuid = gpu.partition("-")
    return f"{kind.lower()}-{uuid[:8]}"


def commands(gpus: Sequence[str], extra: Sequence[str] = (), celery: Sequence[str] = ()) -> list[tuple[dict, list]]:
    """(environment overrides, argv) of each GPU's worker."""
    celery = list(celery) or [sys.executable, "-m", "celery", "-A", "webapp"]
    return [
        ({"CUDA_VISIBLE_DEVICES": gpu}, [*celery, *WORKER_ARGS, "-n", f"{worker_name(gpu)}@%h", *extra]) for gpu in gpus
    ]


def check(gpus: Sequence[str], timeout: float) -> int:
    """Ping this host's GPU workers through the broker (a container's health check)."""
    from webapp.celery import app  # the project is installed in the image (pip install -e .)

    host = socket.gethostname()
    expected = [f"{worker_name(gpu)}@{host}" for gpu in gpus]
    answered = {name for reply in app.control.ping(destination=expected, timeout=timeout) for name in reply}
    missing = [name for name in expected if name not in answered]
    if missing:
        print(f"gpu_workers: no answer from {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"gpu_workers: {len(expected)} answered")
    return 0


def supervise(plan: list[tuple[dict, list]], restart_delay: float) -> int:
    stopping: list[int] = []
    procs: list[subprocess.Popen | None] = [None] * len(plan)
    signalled: set[int] = set()
    restart_at = [0.0] * len(plan)

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for proc in procs:
            if proc is not None and proc.poll() is None and proc.pid not in signalled:
                signalled.add(proc.pid)
                proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, forward)
    while not stopping:
        for i, (env, argv) in enumerate(plan):
            proc = procs[i]
            if proc is not None and proc.poll() is not None:
                print(f"gpu_workers: {argv[argv.index('-n') + 1]} exited with {proc.returncode}", file=sys.stderr)
                procs[i], restart_at[i] = None, time.monotonic() + restart_delay
            if procs[i] is None and not stopping and time.monotonic() >= restart_at[i]:
                procs[i] = subprocess.Popen(argv, env={**os.environ, **env})
        time.sleep(0.2)
    # A worker started while the signal arrived has not had it yet.
    forward(stopping[0], None)
    codes = [proc.wait() for proc in procs if proc is not None]
    return max((abs(code) for code in codes), default=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--gpus", help="comma-separated GPU indices or UUIDs (default: CUDA_VISIBLE_DEVICES, else all)")
    parser.add_argument("--dry-run", action="store_true", help="print each worker's command and start nothing")
    parser.add_argument("--check", action="store_true", help="ping this host's GPU workers; exit 1 if one is silent")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds --check waits for the replies")
    parser.add_argument("--restart-delay", type=float, default=5.0, help="seconds before a lost worker is restarted")
    parser.add_argument("--celery", default="", help="the celery command (default: this Python's -m celery -A webapp)")
    parser.add_argument("extra", nargs="*", help="after --: more arguments for each worker")
    args = parser.parse_args(argv)
    gpus = discover_gpus(args.gpus)
    if args.check:
        return check(gpus, args.timeout)
    plan = commands(gpus, args.extra, shlex.split(args.celery))
    if args.dry_run:
        for env, command in plan:
            print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(command))
        return 0
    return supervise(plan, args.restart_delay)


if __name__ == "__main__":
    sys.exit(main())
