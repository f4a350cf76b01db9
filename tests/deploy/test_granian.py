"""The real granian (WSGI, the systemd unit's command line) with the production settings, against the test
PostgreSQL database and Redis."""

from __future__ import annotations

import json
import os

import pytest

from testkit.deploy import database_url_for_tests, production_environment, request

pytestmark = pytest.mark.django_db


def test_granian_serves_health_and_enforces_https(granian, tmp_path):
    env = {
        **production_environment(tmp_path),
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_KEY_PREFIX": os.environ["CELERY_KEY_PREFIX"],
        # Pages render their static URLs from collectstatic's manifest, which this test does not build.
        "DJANGO_STATIC_MANIFEST": "0",
    }
    server = granian(env)

    # A probe comes by address over plain HTTP: no allowed host, no redirect.
    health = request(server.port, "/health/")
    assert health.status == 200, health.body
    body = json.loads(health.body)
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True, "transport": "redis"}
    assert body["status"] in ("ok", "degraded")

    # Anything else needs an allowed host, and plain HTTP is sent to HTTPS.
    assert request(server.port, "/runs/").status == 400
    plain = request(server.port, "/runs/", headers={"Host": "lab.example.org"})
    assert (plain.status, plain.header("Location")) == (301, "https://lab.example.org/runs/")
    # Behind nginx, which says the client came over HTTPS: served, with HSTS.
    secure = request(server.port, "/runs/", headers={"Host": "lab.example.org", "X-Forwarded-Proto": "https"})
    assert secure.status == 302 and secure.header("Location").startswith("/admin/login/")
    assert secure.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains; preload"
    login = request(server.port, "/admin/login/", headers={"Host": "lab.example.org", "X-Forwarded-Proto": "https"})
    assert login.status == 200
    cookies = [value for name, value in login.headers if name.lower() == "set-cookie"]
    assert cookies and all("Secure" in cookie for cookie in cookies), cookies
