"""Every fault scenario of this folder in turn, each in a process of its own (each sets up Django with its own
database, broker and settings), then a table of what each lost. The target is zero everywhere.

    .venv/bin/python bench/faults                      # all four
    .venv/bin/python bench/faults worker_kill web_restart

Each scenario's own output streams as it runs; its last ``LOST <n>`` line is its result. A scenario that exits
without one (it crashed, or its state never settled) is reported as failed, not as zero.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = ("worker_kill", "redis_restart", "postgres_restart", "web_restart")
LOST = re.compile(r"^LOST (\d+)$")


def run(name: str) -> tuple[int | None, int, float]:
    """(lost or None, exit status, seconds) of one scenario, its output passed through."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parents[1], stdout=subprocess.PIPE, text=True
    )
    lost = None
    for line in proc.stdout:
        sys.stdout.write(line)
        if match := LOST.match(line.strip()):
            lost = int(match.group(1))
    return lost, proc.wait(), time.monotonic() - started


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    results = {}
    for name in names:
        print(f"=== {name}", flush=True)
        results[name] = run(name)
    print(f"\n{'scenario':18s} {'lost':>6s} {'exit':>5s} {'seconds':>8s}")
    for name, (lost, status, seconds) in results.items():
        print(f"{name:18s} {'failed' if lost is None else lost:>6} {status:5d} {seconds:8.0f}")
    return 0 if all(lost == 0 and status == 0 for lost, status, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
