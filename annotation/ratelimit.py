"""A fixed-window counter of the annotators' posts per client address: in Redis when REDIS_URL is set, shared by
every web process, otherwise in Django's per-process cache.

Each assignment is also paced on its own row (ANNOTATION_MIN_ANSWER_MS, in actions.answers.record_judgment); this
counter bounds what one address can do across assignments, such as opening thousands of them.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60
# A Redis that hangs must not hold annotators' posts for long: past this the post goes through unlimited.
REDIS_TIMEOUT_S = 1.0


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
        return _count(key) <= settings.ANNOTATION_RATE_LIMIT
    except Exception as exc:  # the cache's own errors differ by backend (redis, memcached)
        # A study in progress matters more than the limit: the per-assignment pacing still holds.
        log.warning("rate limit not applied, the cache failed: %s", exc)
        return True


def _count(key: str) -> int:
    client = _redis()
    if client is None:
        cache.add(key, 0, timeout=2 * WINDOW_SECONDS)
        return cache.incr(key)
    # One round trip a post on a client kept for the process (Django's cache takes three, and a new client each).
    count = client.incr(key)
    if count == 1:
        client.expire(key, 2 * WINDOW_SECONDS)
    return count


@functools.cache
def _redis() -> Any:
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
