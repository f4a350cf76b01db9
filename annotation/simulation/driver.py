"""Simulated observers through the real annotator flow, over HTTP against a running site: each arrives by the
study's invitation link (a browser of its own: its own cookies), consents, opens the task page, reads the task's
configuration as task.js does, then asks for the state, answers the current image, learns from the feedback the
answer's response holds (when its arm has feedback), and finishes, until it is done or the study is full.

Nothing is switched off for it: identity, capacity, pacing (it waits ``ANNOTATION_MIN_ANSWER_MS`` between answers
and honours 429's Retry-After), the same-origin check (posts carry the site's Origin) and the exposure the server
fixes for each image. Two things come from the database, where the driver runs beside the site (the management
command, or the Celery task): the image's truth, pool and score, which stand in for what the observer's eyes would
take from the pixels; and the mark that the annotator is simulated, set as soon as its assignment exists, before
its first answer, so that no simulated judgment is ever stored as a person's.
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import numpy as np
from django.conf import settings
from django.db.models import Avg

from annotation.models import Annotator, AssignmentItem, Study, StudyItem
from annotation.simulation.observer import Observer, ObserverModel

TASK_CONFIG = re.compile(r'<script id="task-config" type="application/json">(.*?)</script>', re.S)
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
REQUEST_TIMEOUT_S = 30
MAX_RETRIES = 20


class DriverError(Exception):
    """The site answered something the annotator flow never does (the status and what it said)."""


@dataclasses.dataclass
class PilotReport:
    """What a pilot did: observers who finished, judgments stored, and whether the study filled up first."""

    finished: int = 0
    judgments: int = 0
    full: bool = False
    annotators: list[int] = dataclasses.field(default_factory=list)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the flow reads each Location itself, as aiohttp's allow_redirects=False does in the load bench


class _Browser:
    """One observer's browser: its cookies, the site's Origin on every post, JSON in and out."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        self.last_post = 0.0

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        url = urljoin(self.base_url + "/", path.lstrip("/"))
        for _ in range(MAX_RETRIES):
            if method == "POST":
                pace = settings.ANNOTATION_MIN_ANSWER_MS / 1000
                time.sleep(max(0.0, self.last_post + pace - time.monotonic()))
            all_headers = {"Origin": self.origin, **(headers or {})}
            request = urllib.request.Request(url, data=body, method=method, headers=all_headers)
            try:
                with self.opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
                    status, location, text = response.status, response.headers.get("Location"), response.read()
            except urllib.error.HTTPError as error:
                status, location, text = error.code, error.headers.get("Location"), error.read()
                if status == 429:
                    time.sleep(float(error.headers.get("Retry-After") or 1))
                    continue
            finally:
                if method == "POST":
                    self.last_post = time.monotonic()
            return status, location, text
        raise DriverError(f"{method} {path}: still rate-limited after {MAX_RETRIES} tries")

    def json(self, method: str, path: str, data: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        body = None if data is None else json.dumps(data).encode()
        headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if body else {})}
        status, _, text = self.request(method, path, body, headers)
        return status, json.loads(text or b"{}")


@dataclasses.dataclass(frozen=True)
class _Image:
    truth_real: bool
    pool_d_prime: float
    look: float


class _Images:
    """What the observer's eyes take from an image, read from the database by the image's per-assignment token:
    its truth, its pool's d′ (with the image's score folded in) and its look, fixed per image from the seed so
    that every observer sees the same image the same way."""

    def __init__(self, study: Study, model: ObserverModel, seed: int):
        self.model, self.seed = model, seed
        self.mean_score = dict(
            StudyItem.objects.filter(study=study).values_list("pool_id").annotate(mean=Avg("inception_kl"))
        )

    def __call__(self, token: str) -> _Image:
        item = AssignmentItem.objects.select_related("item").get(token=token).item
        d = self.model.pool_d_prime(item.pool_id)
        if item.inception_kl is not None and self.mean_score.get(item.pool_id) is not None:
            d += self.model.score_slope * (item.inception_kl - self.mean_score[item.pool_id])
        look = float(np.random.default_rng([self.seed, item.pk]).normal(0.0, self.model.image_sd))
        return _Image(item.truth_real, d, look)


def mark_simulated(assignment_token: str) -> int:
    """Mark the annotator holding this assignment as simulated; the id of that annotator."""
    annotator = Annotator.objects.get(assignments__token=assignment_token)
    Annotator.objects.filter(pk=annotator.pk).update(simulated=True)
    return annotator.pk


def run_observer(
    base_url: str, study: Study, observer: Observer, rng: np.random.Generator, images: Callable[[str], _Image]
) -> tuple[int | None, int]:
    """One observer through the flow; the annotator's id (None when the study was full) and its judgments."""
    browser = _Browser(base_url)
    status, _, page = browser.request("GET", study.entry_path)
    if status == 410:
        return None, 0
    if status != 200:
        raise DriverError(f"entry link: HTTP {status}")
    fields = dict(HIDDEN_FIELD.findall(page.decode()))
    form = urlencode({**fields, "consent": "yes"}).encode()
    status, location, text = browser.request(
        "POST", study.entry_path, form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if status == 410:
        return None, 0  # the study has all the judgments it needs, or closed
    if status not in (302, 303) or not location:
        raise DriverError(f"consent: HTTP {status}: {text[:200]!r}")
    task_path = urlsplit(location).path
    annotator = mark_simulated(task_path.rstrip("/").rsplit("/", 1)[-1])
    status, _, page = browser.request("GET", task_path)
    found = TASK_CONFIG.search(page.decode())
    if status != 200 or found is None:
        raise DriverError(f"task page: HTTP {status}, no task configuration")
    config = json.loads(found.group(1))
    status, state = browser.json("GET", config["stateUrl"])
    judged = 0
    while state.get("item") is not None:
        shown = state["item"]
        image = images(shown["token"])
        answer_real, response_ms = observer.respond(
            rng,
            truth_real=image.truth_real,
            pool_d_prime=image.pool_d_prime,
            image_effect=image.look,
            exposure_ms=shown.get("exposure_ms"),
        )
        body = {"item": shown["token"], "answer": "real" if answer_real else "generated", "response_ms": response_ms}
        status, result = browser.json("POST", config["answerUrl"], body)
        if status == 409:  # the image went to another while this sequence idled: ask again, as task.js does
            status, state = browser.json("GET", config["stateUrl"])
            continue
        if status != 200 or result.get("stored") is not True:
            raise DriverError(f"answer: HTTP {status}: {result}")
        judged += 1
        if result.get("feedback") is not None:
            observer.learn()
        state = result["state"]
    status, done = browser.json("POST", config["finishUrl"], {})
    if status != 200:
        raise DriverError(f"finish: HTTP {status}: {done}")
    return annotator, judged


def pilot(study: Study, *, observers: int, seed: int, base_url: str, model: ObserverModel) -> PilotReport:
    """``observers`` simulated observers of ``model``, one after another, through ``study``'s flow at
    ``base_url``; stops early when the study is full. Reproducible from ``seed`` (each observer's draws and
    answers) up to the study's own randomisation of arms and sequences."""
    rng = np.random.default_rng(seed)
    images = _Images(study, model, seed)
    report = PilotReport()
    for _ in range(observers):
        annotator, judged = run_observer(base_url, study, model.draw_observer(rng), rng, images)
        if annotator is None:
            report.full = True
            break
        report.finished += 1
        report.judgments += judged
        report.annotators.append(annotator)
    return report


def model_from_params(params: dict[str, Any]) -> ObserverModel:
    """An observer model from plain values (a task's JSON, a command's options): ``d_prime`` keys become pool ids;
    an unknown parameter is refused by name."""
    names = {f.name for f in dataclasses.fields(ObserverModel)}
    unknown = sorted(set(params) - names)
    if unknown:
        raise ValueError(f"unknown observer parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    values = dict(params)
    values["d_prime"] = {int(pool): float(d) for pool, d in (params.get("d_prime") or {}).items()}
    return ObserverModel(**values)


def run_pilot(study_id: int, *, observers: int, seed: int, base_url: str, params: dict[str, Any]) -> PilotReport:
    """The action the command, the admin's pilot and its Celery task share: an open study, a model from
    ``params``, and :func:`pilot`."""
    model = model_from_params(params)
    if observers < 1:
        raise ValueError(f"observers: at least 1, got {observers}")
    study = Study.objects.get(pk=study_id)
    if not study.is_open:
        raise DriverError(f"study {study.pk} is {study.status}: open it before a pilot")
    return pilot(study, observers=observers, seed=seed, base_url=base_url, model=model)
