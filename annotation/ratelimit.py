"""A fixed-window counter of the annotators' posts per client address, in Django's cache (Redis when set).

Each assignment is also paced on its own row (ANNOTATION_MIN_ANSWER_MS, in services.record_judgment); this
counter bounds what one address can do across assignments, such as opening thousands of them.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


def client_address(request: HttpRequest) -> str:
    """The connection's address, or the one ANNOTATION_PROXY_COUNT trusted proxies put in X-Forwarded-For."""
    hops = settings.ANNOTATION_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def allow(request: HttpRequest) -> bool:
    """Count this post against its address's window; False once the window holds more than the limit."""
    key = f"annotation:posts:{client_address(request)}:{int(time.time() // WINDOW_SECONDS)}"
    try:
        cache.add(key, 0, timeout=2 * WINDOW_SECONDS)
        return cache.incr(key) <= settings.ANNOTATION_RATE_LIMIT
    except Exception as exc:  # the cache's own errors differ by backend (redis, memcached)
        # A study in progress matters more than the limit: the per-assignment pacing still holds.
        log.warning("rate limit not applied, the cache failed: %s", exc)
        return True
