"""Simulated annotators of a study served by granian or gunicorn (DEBUG off) on PostgreSQL and Redis on
this machine: the deployment they share with the server, the study they take, and the annotators themselves.

Each simulated annotator arrives by a Prolific link of its own, consents, opens the task page, reads its
configuration as task.js does, then repeatedly asks for the state (the next item) and answers it, and
finishes; then it comes back as a new participant, until the time is up. It keeps to the server's
protections rather than switching them off: it waits at least ANNOTATION_MIN_ANSWER_MS between answers and
posts no more than ANNOTATION_RATE_LIMIT times a minute (a fast human), and it has its own client address,
sent in X-Forwarded-For as nginx sets it (ANNOTATION_PROXY_COUNT=1). The annotator API takes no CSRF token
(it takes no cookie either: see annotation/views.py); posts carry the page's Origin as a browser's do.

bench/annotation_load.py measures the load they make; bench/faults/ restarts servers under them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from testkit.servers import children, free_port

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/vtl_bench_load"
# A database of the shared Redis that the test sessions (15) do not use.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
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


@dataclass
class Deployment:
    """The settings the bench process and its web server share, all through the environment as in production."""

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

    from testkit.factories import ImagePoolFactory, open_study

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


# The first is the production default (deploy/); the other stays selectable to compare.
SERVERS = ("granian", "gunicorn")
APPS = {"app": "webapp.wsgi:application", "floor": "testkit.floor:application"}


class Server:
    """A WSGI server (gunicorn's gthread workers, or granian's WSGI workers with as many blocking threads)
    serving ``app`` (webapp.wsgi, or testkit.floor), in a process group of its own."""

    def __init__(
        self,
        deployment: Deployment,
        workers: int,
        threads: int,
        port: int | None = None,
        *,
        server: str = SERVERS[0],
        app: str = APPS["app"],
    ):
        self.deployment, self.workers, self.threads = deployment, workers, threads
        self.server, self.app = server, app
        self.port = port or free_port()
        self.log_path = deployment.data_dir / f"{server}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.server == "granian":
            return [
                str(Path(sys.executable).with_name("granian")),
                "--interface=wsgi",
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--workers={self.workers}",
                f"--blocking-threads={self.threads}",
                "--backlog=2048",
                "--no-access-log",
                self.app,
            ]
        return [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            f"--bind=127.0.0.1:{self.port}",
            "--worker-class=gthread",
            f"--workers={self.workers}",
            f"--threads={self.threads}",
            "--timeout=60",
            "--graceful-timeout=10",
            "--backlog=2048",
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout_s: float = 60) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
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
                raise RuntimeError(f"{self.server} did not come up; its log: {self.log_path}\n{self.log_tail()}")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *children(self.process.pid)]

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int | None:
        """Signal the whole process group (SIGTERM: the server's graceful stop; SIGKILL: a crash) and wait."""
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

    def carried(self, state: dict[str, Any]) -> None:
        """As task.js: the current image's bytes come in the state (base64), decoded rather than asked for."""
        try:
            base64.b64decode(state["item"]["image"], validate=True)
        except (TypeError, ValueError):
            self.client.stats.errors.append((time.monotonic(), "state: no image bytes"))
            raise Failed(200) from None

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
                        self.carried(state)
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
