"""The task page through a database outage, in a real browser: the live server reaches PostgreSQL through a TCP
proxy that the test cuts while an answer is being saved. The page waits under its "Reconnecting…" notice, sends
the same answer again once the database is back, and goes on; the judgment is stored once, with the response
time measured when it was given, and the error screen never shows. The next answer is stored but its response
lost on the way (the connection reset): sent again, it is refused as answered already, which the page takes as
stored."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from testkit.browser import consent, judgments, practice, wait_state
from testkit.factories import open_study
from testkit.tcp_proxy import database_behind_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# Every value data-state takes, in order, kept by the page itself: a screen shown between two polls is seen too.
RECORD_STATES = """
window.statesSeen = [];
new MutationObserver(() => window.statesSeen.push(document.body.dataset.state)).observe(document.documentElement, {
  subtree: true, attributes: true, attributeFilter: ["data-state"],
});
"""


def ready(page: Any, done: int) -> None:
    page.wait_for_function(
        "i => document.body.dataset.state === 'ready' && document.getElementById('progress').value === i", arg=done
    )


def test_an_answer_given_while_the_database_is_down_is_stored_once_when_it_is_back(live_server, desktop):
    study = open_study(protocol="hype_time", items_per_assignment=2, block_size=2, judgments_per_item=1)
    page = desktop
    page.add_init_script(RECORD_STATES)
    answers: list[dict[str, Any]] = []
    page.on("request", lambda r: answers.append(json.loads(r.post_data)) if r.url.endswith("/answer") else None)
    with database_behind_proxy() as proxy:
        page.goto(live_server.url + study.entry_path)
        consent(page)
        practice(page, page, timed=True)
        ready(page, 0)

        proxy.cut()
        page.keyboard.press("f")
        page.wait_for_selector("#reconnecting:not([hidden])")
        assert page.evaluate("document.body.dataset.state") == "saving"
        time.sleep(1)
        proxy.restore()

        ready(page, 1)
        assert page.is_hidden("#reconnecting")
        lost: list[str] = []

        def lose_the_first_response(route: Any) -> None:
            if lost:
                route.continue_()
                return
            lost.append(route.request.url)
            route.fetch()  # the server stores the answer; the page never hears of it
            route.abort("connectionreset")

        page.route("**/answer", lose_the_first_response)
        page.keyboard.press("j")
        wait_state(page, "finish")
        page.wait_for_selector("#finish-code:not([hidden])")
        states = page.evaluate("window.statesSeen")
    assert "error" not in states
    first = [body for body in answers if body["item"] == answers[0]["item"]]
    assert len(first) >= 2 and all(body == first[0] for body in first), "the same answer, sent again"
    second = [body for body in answers if body["item"] != answers[0]["item"]]
    assert len(second) == 2 and second[0] == second[1] and lost
    stored = judgments(study)
    assert [j.answer_real for j in stored] == [True, False]
    assert stored[0].assignment_item.token == first[0]["item"]
    assert stored[0].response_ms == first[0]["response_ms"], "the response time measured, not the wait"
    assert stored[0].exposure_shown_ms is not None
