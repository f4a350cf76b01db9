"""The annotator's API while PostgreSQL or Redis cannot be reached, for real: a live server whose database is
behind a TCP proxy that the test cuts (the shared PostgreSQL itself is never stopped), and a Redis of the test's
own that it stops. An outage answers 503 with Retry-After; the same request succeeds once the server is back."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from typing import Any

import pytest
import redis
from django.db import OperationalError, ProgrammingError, connection
from django.test import RequestFactory
from django.urls import reverse
from redis.backoff import NoBackoff
from redis.retry import Retry

from annotation import ratelimit
from annotation.models import Judgment
from testkit.factories import open_study, start
from testkit.servers import RedisServer, free_port
from testkit.tcp_proxy import database_behind_proxy
from webapp.outage import RETRY_AFTER_S, OutageMiddleware

pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str, body: dict[str, Any] | None = None, accept: str = "application/json") -> tuple[int, Any, bytes]:
    headers = {"Accept": accept}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def assert_unavailable(status: int, headers: Any, body: bytes, json_body: bool = True) -> None:
    assert status == 503, body[:300]
    assert headers["Retry-After"] == str(RETRY_AFTER_S)
    if json_body:
        assert json.loads(body)["retry"] is True
    assert b"Traceback" not in body


def test_the_api_answers_503_while_the_database_is_cut_and_serves_the_same_answer_after(live_server):
    assignment = start(open_study())
    api = {
        name: live_server.url + reverse(f"annotation:{name}", args=[assignment.token]) for name in ("state", "answer")
    }
    with database_behind_proxy() as proxy:
        status, _, body = call(api["state"])
        assert status == 200, body[:300]
        item = json.loads(body)["item"]
        answer = {"item": item["token"], "answer": "real", "response_ms": 812}

        proxy.cut()
        assert_unavailable(*call(api["state"]))
        assert_unavailable(*call(api["answer"], answer))
        assert_unavailable(*call(live_server.url + item["src"], accept="image/*"), json_body=False)
        page = call(live_server.url + assignment.get_absolute_url(), accept="text/html")
        assert_unavailable(*page, json_body=False)
        assert b'http-equiv="refresh"' in page[2]

        proxy.restore()
        status, _, body = call(api["answer"], answer)
        assert status == 200, body[:300]
        assert json.loads(body)["state"]["done"] == 1
    assert list(Judgment.objects.values_list("assignment_item__token", "response_ms")) == [(item["token"], 812)]


def test_a_query_that_fails_on_a_working_connection_is_no_outage():
    """A failed query (a bug, a cancelled statement) is Django's 500, logged as such: the connection still works."""
    middleware = OutageMiddleware(lambda request: None)
    request = RequestFactory().get("/", HTTP_ACCEPT="application/json")
    with pytest.raises(ProgrammingError) as bug, connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM annotation_judgment")
    with pytest.raises(OperationalError) as cancelled, connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 1")
        try:
            cursor.execute("SELECT pg_sleep(1)")
        finally:
            cursor.execute("RESET statement_timeout")
    assert middleware.process_exception(request, bug.value) is None
    assert middleware.process_exception(request, cancelled.value) is None


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_without_redis_the_annotator_goes_on_unlimited(client, settings, tmp_path):
    """Redis's part on the annotator's path is the address's rate limit, which lets posts through without it."""
    server = RedisServer(tmp_path)
    server.start()
    settings.REDIS_URL = server.url
    ratelimit._redis.cache_clear()
    try:
        assignment = start(open_study())
        token = client.get(reverse("annotation:state", args=[assignment.token])).json()["item"]["token"]
        server.stop()
        body = {"item": token, "answer": "generated", "response_ms": 700}
        url = reverse("annotation:answer", args=[assignment.token])
        response = client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content[:300]
    finally:
        server.stop()
        ratelimit._redis.cache_clear()
    assert Judgment.objects.get().answer_real is False


def test_a_redis_that_does_not_answer_is_an_outage():
    """Elsewhere (a cache read, a task sent) a view meets Redis's own error: 503 like the database's."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError) as refused:
        dead.ping()
    request = RequestFactory().post("/", "{}", content_type="application/json")
    response = OutageMiddleware(lambda request: None).process_exception(request, refused.value)
    assert response is not None
    assert_unavailable(response.status_code, response, response.content)
