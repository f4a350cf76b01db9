"""The annotator's JSON API (state, answer, finish, withdraw) past the middleware that serves the staff.

Those views take no cookie and no CSRF token by design (annotation/views.py): sessions' users, CSRF, the login's
lockout (axes), the second factor and messages have nothing to do there, and their work on every request was a
share of the server's CPU per judgment. So, placed after the middleware every request needs (security headers
and HTTPS, the outage's 503, the Host check), this one calls those views itself. Their own protections are in
the views and stay: the Origin check, the rate limit, the pace and the token. An outage met in the view is
answered 503 as OutageMiddleware would (it only sees exceptions of views that Django's handler calls).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from webapp.outage import outage_response

API_VIEWS = frozenset({"annotation:state", "annotation:answer", "annotation:finish", "annotation:withdraw"})
# Cheap first test: only these paths are resolved here (the rest resolve once, in Django's handler).
API_PREFIX = "/s/a/"


class AnnotatorApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.view_name not in API_VIEWS:
            return self.get_response(request)
        request.resolver_match = match
        try:
            return match.func(request, *match.args, **match.kwargs)
        except Exception as exc:
            response = outage_response(request, exc)
            if response is None:
                raise
            return response
