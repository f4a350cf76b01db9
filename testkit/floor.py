"""The floor: the annotator API's usual requests served by a bare WSGI app, no Django on their path, to tell how
close the app comes to what the same SQL under the same server allows.

Per request it does what the app must: the state (the assignment, the items ahead, the current item served) and
the answer (a same-origin post within the address's rate limit in Redis, the JSON body validated as the view
does, then in one transaction the assignment locked, the pace checked, the judgment stored, the staircase moved
and the next item served, the next state in the response), with annotation.actions.hot_sql's statements,
prepared, on a psycopg connection of each thread's own. Anything else (an entry link, the task page, the end of
a phase, a refusal, a lapsed reservation) goes to the app itself, untouched: those are rare, and the floor is
about the requests every judgment makes.

Served as ``testkit.floor:application`` by the same server as webapp.wsgi, with the same environment.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django.setup()

import psycopg  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402

from annotation import images  # noqa: E402
from annotation.actions.hot_sql import statements  # noqa: E402
from annotation.models import TOKEN_PATTERN  # noqa: E402
from annotation.protocols import get_protocol  # noqa: E402
from annotation.views import ANNOTATOR_CSP, _display, _Malformed  # noqa: E402

django_app = get_wsgi_application()
SQL = statements(connection.vendor)
connection.close()
API = re.compile(rf"/s/a/({TOKEN_PATTERN})/(state|answer)")
ITEM = re.compile(TOKEN_PATTERN)
ANSWERING = ("qualification", "test")
# Columns of hot_sql's "ahead" rows past the item's own (kind, id, token, position, phase, trial, block, exposure,
# study item), and of its "assignment" row.
SERVED, TRUTH, JUDGED = 9, 10, 11
STUDY = 8
RESERVATION = timedelta(minutes=settings.ANNOTATION_RESERVATION_MINUTES)
MIN_ANSWER = timedelta(milliseconds=settings.ANNOTATION_MIN_ANSWER_MS)
HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy", ANNOTATOR_CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
]
_local = threading.local()
_redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0)


class Fallback(Exception):
    """A request the floor leaves to the app."""


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        database = settings.DATABASES["default"]
        conn = psycopg.connect(
            host=database["HOST"],
            port=database["PORT"] or 5432,
            dbname=database["NAME"],
            user=database["USER"],
            password=database["PASSWORD"],
            autocommit=True,
        )
        # Only hot_sql.PREPARED are prepared, as in the app ("ahead" is planned for its values each time).
        conn.prepare_threshold = None
        _local.conn = conn
    return conn


def _assignment(cursor: Any, token: str, lock: bool) -> tuple:
    cursor.execute(SQL["lock" if lock else "assignment"], [token], prepare=True)
    row = cursor.fetchone()
    if row is None or row[1] not in ANSWERING:
        raise Fallback
    return row


def _ahead(cursor: Any, assignment: tuple) -> tuple[list[tuple], tuple]:
    start = assignment[5]
    cursor.execute(SQL["ahead"], [assignment[0], start, start + 2, assignment[0]])
    ahead, last = [], None
    for row in cursor.fetchall():
        if row[0] == 1:
            last = row
        elif not row[JUDGED]:
            ahead.append(row)
    ahead.sort(key=lambda row: row[3])
    if not ahead or last is None or last[4] != ahead[0][4]:
        raise Fallback  # the end of the sequence or of a phase, or answers behind: the app counts
    return ahead, last


def _serve(cursor: Any, assignment: tuple, item: tuple, now: datetime) -> int | None:
    if item[SERVED]:
        return item[7]
    timed = get_protocol(assignment[6]).timed and item[4] == "test"
    exposure = assignment[2] if timed else None
    cursor.execute(SQL["serve"], [now, exposure, item[1]], prepare=True)
    if cursor.rowcount == 0:
        cursor.execute(SQL["served"], [item[1]], prepare=True)
        (exposure,) = cursor.fetchone()
    return exposure


def _state(assignment: tuple, stage: str, item: tuple, last: tuple, exposure: int | None) -> dict[str, Any]:
    # The current image's bytes, as the app sends them: from the per-process cache of the study's files.
    image = images.image_bytes(images.study_image_path(assignment[STUDY], item[8]))
    return {
        "stage": stage,
        "phase": item[4],
        "done": item[5],
        "total": last[5] + 1,
        "answered": item[3],
        "blocks": last[6] + 1,
        "item": {
            "token": item[2],
            "src": f"/s/i/{item[2]}",
            "block": item[6],
            "exposure_ms": exposure,
            "image": base64.b64encode(image).decode("ascii"),
        },
    }


def _lapsed(assignment: tuple, now: datetime) -> bool:
    return assignment[1] == "test" and assignment[3] < now - RESERVATION


def state(token: str) -> dict[str, Any]:
    with _connection().cursor() as cursor:
        assignment = _assignment(cursor, token, lock=False)
        if _lapsed(assignment, datetime.now(UTC)):
            raise Fallback
        ahead, last = _ahead(cursor, assignment)
        exposure = _serve(cursor, assignment, ahead[0], datetime.now(UTC))
        return _state(assignment, assignment[1], ahead[0], last, exposure)


def _body(raw: bytes) -> tuple[str, bool, int, list[Any]]:
    """The view's own checks of an answer's body (a refusal is the app's to make)."""
    try:
        body = json.loads(raw)
        answer, response_ms, item = body["answer"], body["response_ms"], body["item"]
        if answer not in ("real", "generated") or type(response_ms) is not int or not isinstance(item, str):
            raise Fallback
        if not ITEM.fullmatch(item) or not 0 <= response_ms <= 3_600_000:
            raise Fallback
        display = _display(body)
    except (ValueError, KeyError, TypeError, RecursionError, _Malformed):
        raise Fallback from None
    return item, answer == "real", response_ms, [*display, display.exposure_shown_ms]


def answer(token: str, raw: bytes) -> dict[str, Any]:
    item_token, answer_real, response_ms, display = _body(raw)
    conn = _connection()
    with conn.transaction(), conn.cursor() as cursor:
        assignment = _assignment(cursor, token, lock=True)
        now = datetime.now(UTC)
        if now - assignment[3] < MIN_ANSWER or _lapsed(assignment, now):
            raise Fallback
        ahead, last = _ahead(cursor, assignment)
        item = ahead[0]
        if item[2] != item_token or not item[SERVED] or len(ahead) < 2 or ahead[1][4] != item[4]:
            raise Fallback  # a refusal, or the phase's last answer: the app's
        following = ahead[1]
        correct = answer_real == item[TRUTH]
        feedback = bool(assignment[7]) and item[4] == "test"
        cursor.execute(
            SQL["judge"], [item[1], answer_real, correct, response_ms, feedback, now, *display], prepare=True
        )
        exposure = assignment[2]
        if item[4] == "test":
            new_block = following[6] != item[6]
            exposure = get_protocol(assignment[6]).next_exposure(exposure, correct, new_block=new_block)
        moved = (assignment[0], assignment[1], exposure, now, *assignment[4:])
        cursor.execute(
            SQL["advance"], [exposure, now, assignment[1], assignment[4], item[3] + 1, assignment[0]], prepare=True
        )
        served = _serve(cursor, moved, following, now)
        progress = _state(moved, assignment[1], following, last, served)
    shown = {"correct": correct, "truth": "real" if item[TRUTH] else "generated"} if feedback else None
    return {"stored": True, "feedback": shown, "state": progress}


def _same_origin(environ: dict[str, Any]) -> bool:
    origin = environ.get("HTTP_ORIGIN")
    return origin is None or urlsplit(origin).netloc == environ.get("HTTP_HOST")


def _allowed(environ: dict[str, Any]) -> bool:
    forwarded = [part.strip() for part in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    address = forwarded[-1] if forwarded else environ.get("REMOTE_ADDR", "")
    key = f"annotation:posts:{address}:{int(time.time() // 60)}"
    count = _redis.incr(key)
    if count == 1:
        _redis.expire(key, 120)
    return count <= settings.ANNOTATION_RATE_LIMIT


def application(environ: dict[str, Any], start_response: Any) -> Any:
    found = API.fullmatch(environ.get("PATH_INFO", ""))
    method = environ["REQUEST_METHOD"]
    if found is None:
        return django_app(environ, start_response)
    token, verb = found.groups()
    raw = b""
    try:
        if verb == "state" and method == "GET":
            data = state(token)
        elif verb == "answer" and method == "POST" and environ.get("CONTENT_TYPE") == "application/json":
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            if not _same_origin(environ) or not _allowed(environ):
                raise Fallback
            data = answer(token, raw)
        else:
            raise Fallback
    except Fallback:
        environ["wsgi.input"] = io.BytesIO(raw)
        return django_app(environ, start_response)
    payload = json.dumps(data).encode()
    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(payload)))])
    return [payload]
