"""A database or Redis that cannot be reached answers 503 with ``Retry-After``, not 500.

A restart of PostgreSQL or Redis lasts seconds; a request that meets it is worth retrying, and the annotator's
page does retry (annotation/static/annotation/task.js) where it would show its error screen for a 500. The
middleware sees every view's exception (the annotator's API, their pages, staff pages alike) and answers for
those of an outage: the database's connection errors (the connection found broken, or never made) and Redis's
(the rate limit's and the cache's client, Celery's producer). Any other error, a deadlock or a failed query on a
working connection included, goes on to Django's 500 and its log.

The broken connection is closed here, so that the next request of this thread connects again instead of
failing on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import kombu.exceptions
import redis.exceptions
from django.db import DatabaseError, InterfaceError, OperationalError, connection, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

# Seconds: the order of a restart; the page adds jitter and backs off from it.
RETRY_AFTER_S = 2
MESSAGE = "The service is briefly unavailable: retrying in a moment."
BROKER_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError)
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Back in a moment</title>'
    '<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}</head>'
    "<body><p>{message}</p></body></html>"
)


def _database_unreachable(exc: Exception) -> bool:
    """A connection error, not one query's: the connection was never made, or is unusable after the error."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    return connection.connection is None or not connection.is_usable()


def _close_broken_connections() -> None:
    for wrapper in connections.all(initialized_only=True):
        try:
            wrapper.close_if_unusable_or_obsolete()
        except DatabaseError:
            # Closing a dead socket can fail too; the wrapper has forgotten it either way.
            log.debug("closing a broken connection failed", exc_info=True)


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON for the API (what the page reads), a short page that reloads itself otherwise."""
    if request.headers.get("Accept") == "application/json" or request.content_type == "application/json":
        response: HttpResponse = JsonResponse({"error": MESSAGE, "retry": True}, status=503)
    else:
        refresh = f'<meta http-equiv="refresh" content="{RETRY_AFTER_S * 5}">' if request.method == "GET" else ""
        response = HttpResponse(PAGE.format(refresh=refresh, message=MESSAGE), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    # Logged once, as the warning below: Django would log every 5xx response again as an error.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def outage_response(request: HttpRequest, exc: Exception) -> HttpResponse | None:
    """The 503 for an exception of an outage (the broken connection closed), None for any other."""
    if isinstance(exc, BROKER_ERRORS):
        log.warning("Redis unreachable, %s %s answered 503: %r", request.method, request.path, exc)
        return unavailable(request)
    if _database_unreachable(exc):
        log.warning("database unreachable, %s %s answered 503: %r", request.method, request.path, exc)
        _close_broken_connections()
        return unavailable(request)
    return None


class OutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        return outage_response(request, exc)
