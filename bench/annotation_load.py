"""Annotation under load: N simulated annotators go through a study's assignments over HTTP, against the app
served by gunicorn (gthread workers, DEBUG off) on PostgreSQL and Redis on this machine. Prints the machine,
the server's configuration, judgments per second, the p50/p95/p99 latency of "next item" (the state) and
"submit" (the answer), the errors by kind, where the CPU went, and the check that the database holds exactly
one judgment per submit that got a success response.

Usage, from the repository root:

    .venv/bin/python bench/annotation_load.py                      # 200 annotators for 60 s
    .venv/bin/python bench/annotation_load.py --annotators 400 --duration 30 --workers 2 --threads 8
    .venv/bin/python bench/annotation_load.py --flow browser       # exactly task.js's requests (images too)
    .venv/bin/python bench/annotation_load.py --keep               # keep the database vtl_bench_load

The script creates its own database (``--database-url``, dropped at the end unless ``--keep``), migrates it,
writes two small PNG pools through the project's pool encoder (the factories of tests/annotation), opens a
study over them, starts gunicorn, and drives the annotators from this process (asyncio and aiohttp).

Each simulated annotator arrives by a Prolific link of its own, consents, opens the task page, reads its
configuration as task.js does, then repeatedly asks for the state (the next item) and answers it, and
finishes; then it comes back as a new participant, until the time is up. It keeps to the server's
protections rather than switching them off: it waits at least ANNOTATION_MIN_ANSWER_MS between answers and
posts no more than ANNOTATION_RATE_LIMIT times a minute (a fast human), and it has its own client address,
sent in X-Forwarded-For as nginx sets it (ANNOTATION_PROXY_COUNT=1). The annotator API takes no CSRF token
(it takes no cookie either: see annotation/views.py); posts carry the page's Origin as a browser's do.

The load generator is importable (bench/faults/ uses it): Deployment, Server, Client, Annotator, run_load,
check_judgments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import django
import gunicorn

ROOT = Path(__file__).resolve().parents[1]
# run_support (tests/runs) is a plain module, not a package: pytest finds it the same way.
sys.path.insert(0, str(ROOT / "tests" / "runs"))
from run_support import children  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/vtl_bench_load"
# A database of the shared Redis that the test sessions (15) do not use.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
TARGET_RATE = 500
TARGET_P99_MS = 100
REQUEST_TIMEOUT_S = 15
# An annotator whose request failed waits this long and opens its link again, as a person reloading would.
RETRY_S = 0.5
# What task.js does when the server is unreachable (a 502/503/504, or no response at all): it waits, from
# Retry-After (or a second) backing off up to RETRY_MAX_S with jitter, and sends the same request again. Each
# wait is a pause the annotator sees under the "Reconnecting…" notice, not an error.
OUTAGE_STATUSES = frozenset({502, 503, 504})
RETRY_MAX_S = 15.0
TASK_CONFIG = re.compile(r'<script id="task-config" type="application/json">(.*?)</script>', re.S)
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
FLOW_HELP = (
    "poll: ask for the state before every answer (the next item, then the submit);\n"
    "browser: task.js's own requests: each image, then the answer, whose response holds the next state"
)


# --- The deployment: database, settings, server ----------------------------------------------------------


@dataclass
class Deployment:
    """The settings the bench process and its gunicorn share, all through the environment as in production."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vtl-bench-")))
    min_answer_ms: int = 150
    rate_limit: int = 300
    conn_max_age: int = 60
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))

    def environ(self) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "DATABASE_CONN_MAX_AGE": str(self.conn_max_age),
            "REDIS_URL": self.redis_url,
            "WEBAPP_DATA_DIR": str(self.data_dir),
            "ARTIFACTS_DIR": str(self.data_dir / "artifacts"),
            "WEBAPP_LOG_LEVEL": "WARNING",
            "ANNOTATION_MIN_ANSWER_MS": str(self.min_answer_ms),
            "ANNOTATION_RATE_LIMIT": str(self.rate_limit),
            "ANNOTATION_PROXY_COUNT": "1",
        }

    @property
    def post_interval_s(self) -> float:
        """How long a simulated annotator waits between its posts: the answer pace or the address's share of
        the rate limit's window, whichever is longer, with a margin (the window is fixed, not sliding)."""
        return max(self.min_answer_ms / 1000, 60 / self.rate_limit) * 1.05


def _maintenance_url(database_url: str) -> tuple[str, str]:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def create_database(database_url: str) -> None:
    """A fresh, empty database (an older one of the same name is dropped first)."""
    import psycopg
    from psycopg import sql

    admin, name = _maintenance_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _maintenance_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def configure(deployment: Deployment) -> None:
    """Set up Django in this process with the deployment's settings (before anything imports them)."""
    import django

    os.environ.update(deployment.environ())
    django.setup()


@dataclass(frozen=True)
class StudyInfo:
    pk: int
    public_id: str
    entry_path: str
    items_per_assignment: int
    test_items: int


def build_study(images_per_pool: int, items_per_assignment: int, judgments_per_item: int) -> StudyInfo:
    """Migrate, write a real and a generated pool, and open a study over them (annotators randomised between
    feedback and none), with the builders the tests use."""
    from django.core.management import call_command
    from django.db import connections

    sys.path.insert(0, str(ROOT / "tests" / "annotation"))
    from annotation_factories import ImagePoolFactory, open_study

    call_command("migrate", verbosity=0)
    pools = [ImagePoolFactory(kind=kind, size=images_per_pool) for kind in ("real", "generated")]
    study = open_study(
        pools,
        name="load",
        items_per_assignment=items_per_assignment,
        judgments_per_item=judgments_per_item,
        feedback="randomised",
    )
    info = StudyInfo(study.pk, study.public_id, study.entry_path, items_per_assignment, study.items.count())
    # The planner's statistics, as autovacuum would have them for a study opened a minute before its link went out.
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    # The bench must hold no connection while the load runs: a fault may restart the server under it.
    connections.close_all()
    return info


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving webapp.wsgi with gthread workers, in a process group of its own."""

    def __init__(self, deployment: Deployment, workers: int, threads: int, port: int | None = None):
        self.deployment, self.workers, self.threads = deployment, workers, threads
        self.port = port or free_port()
        self.log_path = deployment.data_dir / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout_s: float = 60) -> None:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "webapp.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            "--worker-class=gthread",
            f"--workers={self.workers}",
            f"--threads={self.threads}",
            "--timeout=60",
            "--graceful-timeout=10",
            "--backlog=2048",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **self.deployment.environ()},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not come up; its log: {self.log_path}\n{self.log_tail()}")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *children(self.process.pid)]

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int | None:
        """Signal the whole process group (SIGTERM: gunicorn's graceful stop; SIGKILL: a crash) and wait."""
        if self.process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --- The simulated annotators ----------------------------------------------------------------------------


class Failed(Exception):
    """A request that did not get the answer the flow expects (already counted as an error)."""

    def __init__(self, status: int | None = None):
        super().__init__(status)
        self.status = status


class Replayed(Failed):
    """A request sent again after an outage, refused because an earlier try was done (not counted as an error)."""


def outage_wait(headers: Any, attempt: int) -> float:
    after = float(headers.get("Retry-After") or 1)
    return min(RETRY_MAX_S, max(after, 2.0**attempt)) * (1 + random.random() / 2)


@dataclass
class Stats:
    """Everything the annotators saw, with the monotonic time each request ended."""

    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: list[tuple[float, str]] = field(default_factory=list)
    # (time, kind) of every wait through an outage (task.js's "Reconnecting…"), and (time, annotator) of every
    # error screen shown (the page's "Something went wrong", where a person may give up).
    pauses: list[tuple[float, str]] = field(default_factory=list)
    error_screens: list[tuple[float, str]] = field(default_factory=list)
    replayed: int = 0  # answers sent again after an outage and found stored by the interrupted try
    # (time, item token) of every answer the server said it stored.
    stored: list[tuple[float, str]] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)


class Client:
    """One aiohttp session for every simulated annotator: requests timed, errors counted by kind."""

    def __init__(self, session: Any, base_url: str, stats: Stats):
        self.session, self.base_url, self.stats = session, base_url, stats

    async def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200,),
        done_already: int | None = None,
        **options: Any,
    ) -> tuple[int, Any, bytes]:
        """``done_already``: the status that, to a request sent again after an outage, says an earlier try was
        done (``Replayed``)."""
        import aiohttp

        for attempt in itertools.count():
            begun = time.monotonic()
            try:
                async with self.session.request(method, self.base_url + path, allow_redirects=False, **options) as r:
                    body = await r.read()
                    status, headers = r.status, r.headers
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, headers, what = None, {}, type(exc).__name__
            else:
                what = f"HTTP {status}"
            ended = time.monotonic()
            if status is None or status in OUTAGE_STATUSES:
                self.stats.pauses.append((ended, f"{kind}: {what}"))
                await asyncio.sleep(outage_wait(headers, attempt))
                continue
            self.stats.latencies[kind].append((ended, ended - begun))
            if attempt > 0 and status == done_already:
                raise Replayed(status)
            if status not in expect:
                self.stats.errors.append((ended, f"{kind}: HTTP {status}"))
                raise Failed(status)
            return status, headers, body
        raise AssertionError("unreachable")


class Annotator:
    """One participant (a Prolific link of its own) at one client address, doing what task.js does."""

    def __init__(self, client: Client, address: str, identity: str, entry_path: str, post_interval_s: float):
        self.client, self.address, self.identity = client, address, identity
        self.entry_path, self.post_interval_s = entry_path, post_interval_s
        self.params = {"PROLIFIC_PID": identity, "STUDY_ID": "load", "SESSION_ID": f"session-{identity}"}
        self.config: dict[str, Any] | None = None
        self.last_post = -math.inf

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-Forwarded-For": self.address, **extra}

    async def _post(self, kind: str, path: str, **options: Any) -> tuple[int, Any, bytes]:
        await asyncio.sleep(max(0.0, self.last_post + self.post_interval_s - time.monotonic()))
        try:
            return await self.client.request(kind, "POST", path, **options)
        finally:
            self.last_post = time.monotonic()

    async def enter(self) -> None:
        """The link (consent form, or straight to the task when already started), consent, the task page."""
        link = f"{self.entry_path}?{urlencode(self.params)}"
        status, headers, body = await self.client.request(
            "entry", "GET", link, expect=(200, 302), headers=self.headers()
        )
        if status == 200:
            fields = dict(HIDDEN_FIELD.findall(body.decode()))
            status, headers, _ = await self._post(
                "consent",
                link,
                expect=(302, 303),  # 302: consent given already (a post repeated after its response was lost)
                data={**fields, "consent": "yes"},
                headers=self.headers(Origin=self.client.base_url),
            )
            self.client.stats.started.append(time.monotonic())
        task_path = urlsplit(headers["Location"]).path
        _, _, page = await self.client.request("task", "GET", task_path, headers=self.headers())
        found = TASK_CONFIG.search(page.decode())
        if found is None:
            self.client.stats.errors.append((time.monotonic(), "task: no task-config in the page"))
            raise Failed
        self.config = json.loads(found.group(1))

    def _api_headers(self, **extra: str) -> dict[str, str]:
        return self.headers(Accept="application/json", **extra)

    async def state(self) -> dict[str, Any]:
        assert self.config is not None
        _, _, body = await self.client.request("state", "GET", self.config["stateUrl"], headers=self._api_headers())
        return json.loads(body)

    async def image(self, state: dict[str, Any]) -> None:
        await self.client.request("image", "GET", state["item"]["src"], headers=self.headers())

    async def answer(self, token: str) -> dict[str, Any]:
        assert self.config is not None
        body = {"item": token, "answer": random.choice(("real", "generated")), "response_ms": random.randint(300, 2500)}
        try:
            _, _, response = await self._post(
                "answer",
                self.config["answerUrl"],
                data=json.dumps(body),
                headers=self._api_headers(**{"Content-Type": "application/json", "Origin": self.client.base_url}),
                done_already=409,
            )
        except Replayed:
            # As task.js: the interrupted try was stored (or the image taken back): the state says what is next.
            state = await self.state()
            if state["item"] is not None and state["item"]["token"] == token:
                self.client.stats.errors.append((time.monotonic(), "answer: HTTP 409"))
                raise Failed(409) from None
            self.client.stats.replayed += 1
            return {"stored": None, "state": state}
        result = json.loads(response)
        if result.get("stored") is not True:
            self.client.stats.errors.append((time.monotonic(), "answer: 200 without stored"))
            raise Failed(200)
        self.client.stats.stored.append((time.monotonic(), token))
        return result

    async def finish(self) -> dict[str, Any]:
        assert self.config is not None
        _, _, body = await self._post(
            "finish",
            self.config["finishUrl"],
            data="{}",
            headers=self._api_headers(**{"Content-Type": "application/json", "Origin": self.client.base_url}),
        )
        self.client.stats.finished.append(time.monotonic())
        return json.loads(body)

    async def work(self, deadline: float, flow: str) -> bool:
        """Go through the assignment until it is finished (True) or the time is up (False). A failed request
        is followed, after a moment, by opening the link again: the server holds the state, so this resumes."""
        while time.monotonic() < deadline:
            try:
                if self.config is None:
                    await self.enter()
                state = await self.state()
                while state["item"] is not None and time.monotonic() < deadline:
                    if flow == "browser":
                        await self.image(state)
                    result = await self.answer(state["item"]["token"])
                    # task.js takes the next state from the answer's response; "poll" asks for it each time.
                    state = result["state"] if flow == "browser" else await self.state()
                if state["item"] is None:
                    await self.finish()
                    return True
            except Failed as failed:
                if failed.status == 410:  # the study has every judgment it needs, or has closed
                    return False
                self.client.stats.error_screens.append((time.monotonic(), self.identity))
                self.config = None
                await asyncio.sleep(RETRY_S)
        return False


async def run_load(
    base_url: str,
    entry_path: str,
    *,
    annotators: int,
    duration_s: float,
    post_interval_s: float,
    flow: str = "poll",
    ramp_s: float = 1.0,
    during: Iterable[tuple[float, Callable[[], Awaitable[Any]]]] = (),
) -> tuple[Stats, float]:
    """Drive ``annotators`` concurrent annotators for ``duration_s``; ``during`` are (seconds after the start,
    coroutine function) run beside them (a fault). Returns what they saw and the monotonic start time."""
    import aiohttp

    stats = Stats()
    run = secrets.token_hex(2)  # the rate limit's counters outlive a run by up to two minutes
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as s:
        client = Client(s, base_url, stats)
        began = time.monotonic()
        deadline = began + duration_s

        async def slot(number: int) -> None:
            # Arrivals spread over the ramp, as a platform's participants come in after a study is published.
            await asyncio.sleep(random.random() * ramp_s)
            address = f"2001:db8:{run}::{number + 1:x}"
            serial = 0
            while time.monotonic() < deadline:
                identity = f"load-{run}-{number}-{serial}"
                serial += 1
                annotator = Annotator(client, address, identity, entry_path, post_interval_s)
                if not await annotator.work(deadline, flow) and time.monotonic() < deadline:
                    return  # the study is full

        async def later(at: float, action: Callable[[], Awaitable[Any]]) -> None:
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            await action()

        await asyncio.gather(*(slot(n) for n in range(annotators)), *(later(at, action) for at, action in during))
    return stats, began


# --- Checks and figures ----------------------------------------------------------------------------------


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
    """Where the machine's CPU goes over a window: gunicorn, the database's backends, this client, the rest.
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


def postgres_version(database_url: str) -> str:
    import psycopg

    with psycopg.connect(_maintenance_url(database_url)[0], autocommit=True) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- The benchmark ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--annotators", type=int, default=200, help="concurrent simulated annotators")
    parser.add_argument("--duration", type=float, default=100, help="seconds of load, warm-up included")
    parser.add_argument("--ramp", type=float, default=20, help="seconds over which the annotators arrive")
    parser.add_argument("--warmup", type=float, default=40, help="first seconds left out of the figures")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--flow", choices=("poll", "browser"), default="poll", help=FLOW_HELP)
    parser.add_argument("--items", type=int, default=100, help="images per assignment")
    parser.add_argument("--judgments", type=int, default=10, help="judgments wanted per image")
    parser.add_argument("--images", type=int, default=0, help="images per pool (default: enough for the run)")
    parser.add_argument("--min-answer-ms", type=int, default=150, help="ANNOTATION_MIN_ANSWER_MS")
    parser.add_argument("--rate-limit", type=int, default=300, help="ANNOTATION_RATE_LIMIT (posts a minute)")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE (deploy/.env: 60)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="created, and dropped at the end")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.duration:
        parser.error(f"--warmup ({args.warmup:g} s) must be shorter than --duration ({args.duration:g} s)")

    deployment = Deployment(
        database_url=args.database_url,
        redis_url=args.redis_url,
        min_answer_ms=args.min_answer_ms,
        rate_limit=args.rate_limit,
        conn_max_age=args.conn_max_age,
    )
    # Enough images that the study is never full: every judgment the annotators can make, with room for the
    # places reserved in unfinished sequences, spread over the judgments each image wants.
    most = args.annotators * (args.duration / deployment.post_interval_s + args.items)
    images = args.images or max(args.items, math.ceil(most / args.judgments / 2 * 1.2))
    load_before = load_average()
    create_database(args.database_url)
    server = None
    try:
        configure(deployment)
        study = build_study(images, args.items, args.judgments)
        server = Server(deployment, args.workers, args.threads)
        server.start(study.entry_path)
        meter = CpuMeter(server.pids, database_backends(args.database_url))
        measured: dict[str, float] = {}

        async def start_meter() -> None:
            meter.start()

        async def stop_meter() -> None:
            measured.update(meter.stop())

        stats, began = asyncio.run(
            run_load(
                server.url,
                study.entry_path,
                annotators=args.annotators,
                duration_s=args.duration,
                post_interval_s=deployment.post_interval_s,
                flow=args.flow,
                ramp_s=args.ramp,
                during=[(args.warmup, start_meter), (args.duration, stop_meter)],
            )
        )
        load_after = load_average()
        server.stop()
        check = check_judgments(study.pk, stats)
        start, end = began + args.warmup, began + args.duration
        window = end - start
        judged = sum(1 for at, _ in stats.stored if start <= at <= end)
        rate = judged / window
        errors = stats.errors
        answers = [s * 1000 for at, s in stats.latencies["answer"] if start <= at <= end]
        # The next item is the state's request, and in task.js's flow also its image (the state came with the answer).
        kinds = ("state", "image") if args.flow == "browser" else ("state",)
        nexts = [s * 1000 for kind in kinds for at, s in stats.latencies[kind] if start <= at <= end]
        p99 = max(percentile(answers, 99), percentile(nexts, 99)) if answers and nexts else math.inf
        print(f"annotation load: {args.annotators} simulated annotators, flow {args.flow}, {args.duration:.0f} s")
        print(f"  ({args.warmup:.0f} s warm-up left out of the figures below: measured over {window:.0f} s)")
        print(
            f"machine: {os.cpu_count()} cores; load average (1/5/15 min) {load_before} before, {load_after} at the "
            "end; another benchmark may hold a core (see 'rest of the machine')"
        )
        print(
            f"server: gunicorn {gunicorn.__version__} gthread, {args.workers} workers x {args.threads} threads, "
            f"Django {django.get_version()} DEBUG off, CONN_MAX_AGE {args.conn_max_age}, "
            f"PostgreSQL {postgres_version(args.database_url)}, rate limit in Redis"
        )
        print(
            f"study: {study.test_items} test images, {args.items} per assignment, {args.judgments} judgments each; "
            f"pacing: ANNOTATION_MIN_ANSWER_MS {args.min_answer_ms}, ANNOTATION_RATE_LIMIT {args.rate_limit}/min "
            f"per address -> one post every {deployment.post_interval_s * 1000:.0f} ms at most per annotator"
        )
        print(
            f"judgments: {judged} in {window:.0f} s = {rate:.1f}/s  "
            f"(assignments started {len(stats.started)}, finished {len(stats.finished)})"
        )
        print("\n".join(latency_table(stats, start, end)))
        print(f"errors (whole run): {error_summary(errors)}")
        print(
            f"CPU in the window, cores: gunicorn {measured['server']:.2f}, PostgreSQL {measured['database']:.2f}, "
            f"this client {measured['client']:.2f}, rest of the machine {measured['rest']:.2f} "
            f"(busy {measured['machine']:.2f} of {os.cpu_count()})"
        )
        if judged:
            server_ms = measured["server"] * window / judged * 1000
            database_ms = measured["database"] * window / judged * 1000
            print(
                f"server CPU per judgment (with its share of starts and pages): gunicorn {server_ms:.1f} ms + "
                f"PostgreSQL {database_ms:.1f} ms -> {1000 / (server_ms + database_ms):.0f} judgments/s per free core"
            )
        print(f"database: {check}")
        met = rate >= TARGET_RATE and p99 < TARGET_P99_MS and not errors and check.exact
        print(
            f"target (>= {TARGET_RATE} judgments/s, p99 of next item and submit < {TARGET_P99_MS} ms, no error): "
            f"{'MET' if met else 'NOT MET'} ({rate:.0f}/s, p99 {p99:.1f} ms, {len(errors)} errors)"
        )
        return 0 if check.exact and not errors else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept: database {args.database_url}, files {deployment.data_dir}")
        else:
            drop_database(args.database_url)
            shutil.rmtree(deployment.data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
