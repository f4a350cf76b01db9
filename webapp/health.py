"""``/health/``: whether this web process can reach the database, the Celery broker and any worker.

A middleware answers it, ahead of Django's host validation (after the session, so that staff see more): a
container's or load balancer's probe reaches the process by its address (``127.0.0.1:8000``), not by a name
in ``DJANGO_ALLOWED_HOSTS``, and over plain HTTP (settings exempt the path from the HTTPS redirect).

- 200 ``ok``: database and broker answer, and every queue that tasks are routed to (``gpu``, ``cpu``) has a
  worker that answered the ping.
- 200 ``degraded``: database and broker answer but some queue has no worker. The web process serves pages
  and queues tasks without workers, so its own health (the compose file's check, a load balancer's) must not
  depend on GPU hosts; monitoring reads ``status`` and ``workers.missing``.
- 503 ``error``: the database or the broker does not answer, with that part named.

Each wait is bounded (the broker's connection and the workers' ping), so a dead dependency answers in
seconds rather than hanging the probe. The body names no host, URL or password: failures give the error's
class only (the full error goes to the log), and workers are counted per queue; their names, which carry
their hosts' names, are listed for logged-in staff only. Nothing here imports torch: the Celery app is
imported, never a task body.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger("webapp.health")

PATH = "/health/"
# Seconds to open the broker's connection, and to collect the workers' replies. The ping always waits out
# its timeout (the number of workers is unknown), so it is the floor of a healthy answer's latency.
BROKER_TIMEOUT = 2.0
WORKER_PING_TIMEOUT = 1.0
UNCHECKED: dict[str, Any] = {"ok": False, "error": "not checked: the broker does not answer"}


def check_database() -> dict[str, Any]:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("the database does not answer: %r", exc)
        # A broken connection must not be reused by the next request of this thread.
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def _celery_app() -> Any:
    from webapp.celery import app

    return app


def check_broker() -> tuple[dict[str, Any], dict[str, Any]]:
    """The broker's state and, when it answers, the workers' (over the same connection)."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # The file broker has no server: it works while its folders exist and can be written.
        folders = {options[key] for key in ("data_folder_in", "data_folder_out", "control_folder")}
        unusable = [f for f in folders if not (Path(f).is_dir() and os.access(f, os.W_OK | os.X_OK))]
        if unusable:
            log.warning("broker folders missing or read-only: %s", ", ".join(sorted(unusable)))
            return {"ok": False, "transport": "filesystem", "error": "folders missing or not writable"}, UNCHECKED
        return {"ok": True, "transport": "filesystem"}, check_workers(None)
    app = _celery_app()
    # Bounded socket waits: without them a broker host that drops packets holds the probe for minutes.
    timeouts = {"socket_connect_timeout": BROKER_TIMEOUT, "socket_timeout": BROKER_TIMEOUT + WORKER_PING_TIMEOUT}
    with app.connection_for_write(connect_timeout=BROKER_TIMEOUT, transport_options=timeouts) as conn:
        try:
            # No retry: a probe wants the state now, and its caller polls again anyway.
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
        except Exception as exc:
            log.warning("the broker does not answer: %r", exc)
            return {"ok": False, "error": type(exc).__name__}, UNCHECKED
        return {"ok": True, "transport": conn.transport_cls}, check_workers(conn)


def routed_queues() -> list[str]:
    """The queues tasks are sent to: those of the routes and the default one."""
    queues = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return sorted(queues | {settings.CELERY_TASK_DEFAULT_QUEUE})


def check_workers(connection: Any) -> dict[str, Any]:
    """The workers that answer a broadcast within the timeout, and the queues each consumes (one round trip:
    the ``active_queues`` reply is the ping)."""
    app = _celery_app()
    try:
        replies = app.control.inspect(timeout=WORKER_PING_TIMEOUT, connection=connection).active_queues() or {}
    except Exception as exc:
        log.warning("cannot ping the workers: %r", exc)
        return {"ok": False, "error": type(exc).__name__}
    consumers = {name: sorted({queue["name"] for queue in queues or []}) for name, queues in sorted(replies.items())}
    per_queue = {queue: sum(queue in consumed for consumed in consumers.values()) for queue in routed_queues()}
    missing = [queue for queue, count in per_queue.items() if count == 0]
    return {"ok": not missing, "count": len(consumers), "queues": per_queue, "missing": missing, "_names": consumers}


def report(is_staff: Callable[[], bool]) -> tuple[int, dict[str, Any]]:
    database = check_database()
    broker, workers = check_broker()
    workers = dict(workers)
    names = workers.pop("_names", None)
    if names is not None and database["ok"] and is_staff():
        workers["names"] = names
    if not (database["ok"] and broker["ok"]):
        status, code = "error", 503
    else:
        status, code = ("ok" if workers["ok"] else "degraded"), 200
    return code, {"status": status, "database": database, "broker": broker, "workers": workers}


def health(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    code, body = report(lambda: _is_staff(request))
    response = JsonResponse(body, status=code)
    response["Cache-Control"] = "no-store"
    return response


def _is_staff(request: HttpRequest) -> bool:
    from webapp.staff.middleware import verified_user

    try:
        return bool(verified_user(request).is_staff)
    except Exception:
        return False


class HealthMiddleware:
    """Answers ``/health/`` before CommonMiddleware validates the Host header (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == PATH:
            return health(request)
        return self.get_response(request)
