"""A task sent while Redis restarts waits for it to come back (CELERY_TASK_PUBLISH_RETRY_POLICY): its row is
committed before the message goes, so a publish given up on would leave the row queued with nothing to run
it. bench/faults/redis_restart.py measures the whole scenario; this is its regression test, on a Redis of
its own that it can stop."""

from __future__ import annotations

import shutil
import signal
import threading

import pytest
import redis

from runs import tasks
from testkit.servers import RedisServer, queued_messages
from webapp import celery_app

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def test_a_task_sent_while_redis_is_down_is_queued_once_it_is_back(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    server.stop()
    # Longer than Celery's own policy waits (about a second), as a restart loading its AOF may be.
    comeback = threading.Timer(2.5, server.start)
    comeback.start()
    try:
        with celery_app.connection_for_write(server.url) as connection:
            tasks.draw_real_pool.apply_async((1,), connection=connection)
        comeback.join()
        with redis.Redis.from_url(server.url) as client:
            assert queued_messages(client, "cpu") == 1
    finally:
        comeback.join()  # or the server would start after the test, and outlive it
        server.stop(signal.SIGKILL)
