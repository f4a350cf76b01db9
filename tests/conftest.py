"""Session set-up shared by every test folder.

Django is configured for each session, which touches no database: only tests that ask for one
(``db``, ``transactional_db``, ``django_db``) create it, so tests/engine and tests/metrics run with no
PostgreSQL or Redis up. Web tests run against the real servers: TEST_DATABASE_URL and TEST_REDIS_URL
(defaults: the local servers that .ci/run starts) replace DATABASE_URL and REDIS_URL, so that a
developer's own settings never aim the tests at a real database or broker.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import django
import pytest

_SESSION = f"{os.getpid()}"

os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/visual_turing_lab"
)
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Sessions that share the Redis (parallel checkouts, CI jobs) see only their own queues.
os.environ["CELERY_KEY_PREFIX"] = f"vtl-test-{_SESSION}:"
os.environ["DJANGO_DEBUG"] = "0"
os.environ["DJANGO_SECRET_KEY"] = "tests-only-not-secret"
os.environ["WEBAPP_DATA_DIR"] = tempfile.mkdtemp(prefix="vtl-tests-")
# Seconds instead of minutes, so that cancellation, lease expiry and re-delivery show within a test.
os.environ["RUN_HEARTBEAT_SECONDS"] = "0.3"
os.environ["RUN_LEASE_SECONDS"] = "3"
os.environ["CELERY_VISIBILITY_TIMEOUT"] = "12"
os.environ["CELERY_RESTORE_INTERVAL"] = "1"

django.setup()

# The S3-compatible server (moto) and a bucket of a test's own, for every folder that tests the artifact store.
pytest_plugins = ["testkit.s3"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """A test database of this session's own: two sessions on one server must not drop each other's."""
    from django.db import connections

    connections["default"].settings_dict["TEST"]["NAME"] = f"test_visual_turing_lab_{_SESSION}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Delete this session's files and Redis keys (queues, unacknowledged messages)."""
    import redis

    shutil.rmtree(os.environ["WEBAPP_DATA_DIR"], ignore_errors=True)

    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{os.environ['CELERY_KEY_PREFIX']}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()
