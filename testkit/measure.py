"""What the simulated annotators' runs are judged by: the acknowledged answers against the database, latency
percentiles, errors by kind, and where the machine's CPU went."""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from testkit.annotators import Stats


@dataclass(frozen=True)
class JudgmentCheck:
    acknowledged: int  # answers the server said it stored
    acknowledged_twice: int  # items whose answer was acknowledged more than once
    in_database: int  # judgments of the study
    lost: int  # acknowledged but not in the database
    unacknowledged: int  # in the database without a success response (the response was lost)

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.acknowledged_twice == 0 and self.unacknowledged == 0

    def __str__(self) -> str:
        if self.exact:
            verdict = "OK: exactly one judgment per successful submit"
        elif self.lost == 0 and self.acknowledged_twice == 0:
            verdict = "OK: every acknowledged judgment stored once (and some whose response never arrived)"
        else:
            verdict = "FAILED: acknowledged judgments lost or doubled"
        return (
            f"{self.in_database} judgments in the database, {self.acknowledged} submits acknowledged; "
            f"lost {self.lost}, acknowledged twice {self.acknowledged_twice}, stored without a success response "
            f"{self.unacknowledged} -> {verdict}"
        )


def check_judgments(study_pk: int, stats: Stats) -> JudgmentCheck:
    """Compare the acknowledged answers with the study's judgments in the database (Django set up here)."""
    from django.db import connections

    from annotation.models import Judgment

    acknowledged = Counter(token for _, token in stats.stored)
    stored = set(
        Judgment.objects.filter(assignment_item__assignment__study_id=study_pk).values_list(
            "assignment_item__token", flat=True
        )
    )
    connections.close_all()
    return JudgmentCheck(
        acknowledged=sum(acknowledged.values()),
        acknowledged_twice=sum(1 for n in acknowledged.values() if n > 1),
        in_database=len(stored),
        lost=len(set(acknowledged) - stored),
        unacknowledged=len(stored - set(acknowledged)),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def latency_table(stats: Stats, start: float, end: float) -> list[str]:
    names = {"state": "next item (state)", "answer": "submit (answer)"}
    order = ["state", "answer", *sorted(set(stats.latencies) - {"state", "answer"})]
    lines = [f"  {'latency, ms':<20}{'n':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"]
    for kind in order:
        values = [seconds * 1000 for at, seconds in stats.latencies.get(kind, []) if start <= at <= end]
        if values:
            figures = "".join(f"{percentile(values, q):8.1f}" for q in (50, 95, 99, 100))
            lines.append(f"  {names.get(kind, kind):<20}{len(values):>8}{figures}")
    return lines


def error_summary(errors: Iterable[tuple[float, str]]) -> str:
    counts = Counter(kind for _, kind in errors)
    return ", ".join(f"{kind} x{n}" for kind, n in counts.most_common()) if counts else "none"


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_busy_ticks() -> int:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq + steal


def database_backends(database_url: str) -> Callable[[], list[int]]:
    """The server processes serving one database, found by their process titles ("postgres: ... NAME ...")."""
    marker = f" {urlsplit(database_url).path.lstrip('/')} ".encode()

    def pids() -> list[int]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                title = cmdline.read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and marker in title:
                found.append(int(cmdline.parent.name))
        return found

    return pids


class CpuMeter:
    """Where the machine's CPU goes over a window: the web server, the database's backends, this client, the rest.
    Processes are sampled every second, so that those born during the window (a database connection
    reopened after CONN_MAX_AGE) count too."""

    def __init__(self, server_pids: Callable[[], list[int]], database_pids: Callable[[], list[int]]):
        self.groups = {"server": server_pids, "database": database_pids}
        self.ticks: dict[str, dict[int, list[int]]] = {name: {} for name in self.groups}
        self.stopping = threading.Event()

    def _sample(self, first: bool = False) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                now = _cpu_ticks(pid)
                # A process first seen after the start was born in the window: all its time counts.
                self.ticks[name].setdefault(pid, [now if first else 0, now])[1] = now

    def _run(self) -> None:
        while not self.stopping.wait(1.0):
            self._sample()

    def start(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.began, self.machine, self.client = time.monotonic(), _machine_busy_ticks(), usage.ru_utime + usage.ru_stime
        self._sample(first=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds per second of the window (cores) of each part, and of the machine as a whole."""
        self.stopping.set()
        self.thread.join()
        self._sample()
        hz, seconds = os.sysconf("SC_CLK_TCK"), time.monotonic() - self.began
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cores = {name: sum(b - a for a, b in ticks.values()) / hz / seconds for name, ticks in self.ticks.items()}
        cores["client"] = (usage.ru_utime + usage.ru_stime - self.client) / seconds
        cores["machine"] = (_machine_busy_ticks() - self.machine) / hz / seconds
        cores["rest"] = max(0.0, cores["machine"] - cores["server"] - cores["database"] - cores["client"])
        return cores


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
