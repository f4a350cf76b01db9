"""The annotator's whole flow in a real browser, keyboard only: consent, instructions, practice, the trials, and
the end, without feedback (on a phone), with feedback (from MTurk), and with HYPE-time's timed exposure."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone

from annotation.models import Assignment
from annotation.stats import START_MS, exposure_sequence
from testkit.browser import answer_trials, consent, judgments, practice, wait_state
from testkit.factories import open_study

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MTURK_HOST = "https://workersandbox.mturk.com"


def test_without_feedback_on_a_phone_with_a_reload_midway(live_server, phone):
    study = open_study(items_per_assignment=6, feedback="none", instructions="Judge each image.")
    page = phone
    page.goto(live_server.url + study.entry_path)
    assert "Judge each image." in page.inner_text("main")
    consent(page)
    practice(page, page)
    for button in ("#answer-real", "#answer-generated"):
        box = page.locator(button).bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390, "a thumb-sized target"
    answer_trials(page, page, 2)
    page.wait_for_function("() => document.getElementById('progress').value === 2")
    page.reload()  # resumes at the third image, without instructions or practice
    answer_trials(page, page, 4, start=2)
    wait_state(page, "finish")
    page.wait_for_selector("#finish-code:not([hidden])")
    assert page.inner_text("#finish-code") == study.completion_code
    stored = judgments(study)
    assert [j.assignment_item.position for j in stored] == list(range(6))
    assert [j.answer_real for j in stored] == [True, False] * 3
    assert all(not j.feedback_shown and j.response_ms > 0 for j in stored)
    assert Assignment.objects.get().stage == "submitted"


def test_with_feedback_from_mturk(live_server, desktop):
    """An MTurk worker: feedback after each answer, and the end posts the assignment to turkSubmitTo.

    (MTurk frames the page; that it may is tested on the headers in tests/annotation. Chromium will not frame a
    local server in a public site's page, so the browser here opens the question URL itself.)"""
    study = open_study(items_per_assignment=4, feedback="each")
    params = {"assignmentId": "ASG-E2E", "hitId": "HIT-E2E", "workerId": "W-E2E", "turkSubmitTo": MTURK_HOST}
    posted: list[dict[str, list[str]]] = []

    def external_submit(route: Any) -> None:
        # No query here: Playwright runs handlers in a greenlet of its own, which would open a connection of its own.
        posted.append({**parse_qs(route.request.post_data or ""), "at": timezone.now()})
        route.fulfill(status=200, content_type="text/html", body="<p>submitted</p>")

    page = desktop
    page.route(f"{MTURK_HOST}/mturk/externalSubmit", external_submit)
    page.goto(f"{live_server.url}{study.entry_path}?{urlencode(params)}")
    consent(page)
    practice(page, page)
    shown: list[str] = []
    answer_trials(page, page, 4, keys="ff", feedback=shown)
    page.wait_for_url(f"{MTURK_HOST}/mturk/externalSubmit")
    assert posted and posted[0]["assignmentId"] == ["ASG-E2E"]
    stored = judgments(study)
    assert len(stored) == 4
    assert max(j.created_at for j in stored) < posted[0]["at"], "the answers are stored before the post to MTurk"
    assert Assignment.objects.get().finished_at < posted[0]["at"]
    assert all(j.feedback_shown for j in stored)
    assert len(shown) == 4
    for text, judgment in zip(shown, stored, strict=True):
        truth = "real" if judgment.assignment_item.item.truth_real else "generated"
        assert text == f"{'Correct' if judgment.correct else 'Wrong'}: this image was {truth}."
    assert Assignment.objects.get().stage == "submitted"


def test_timed_exposure_with_countdown_masks_and_blocks(live_server, desktop):
    study = open_study(protocol="hype_time", items_per_assignment=4, block_size=2, judgments_per_item=1)
    page = desktop
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page, timed=True)

    def presented_and_gone() -> None:
        # Once answers open, the image is gone and so are the masks: only the answer remains.
        assert page.locator("#frame img").count() == 0
        assert page.locator("#mask").is_hidden()

    page.wait_for_selector("#countdown:not([hidden])")
    assert page.inner_text("#countdown") in {"3", "2", "1"}
    answer_trials(page, page, 2, keys="fj", on_ready=presented_and_gone)
    wait_state(page, "pause")
    assert "Block 1 of 2 done" in page.inner_text("#pause")
    page.keyboard.press("Space")
    answer_trials(page, page, 2, keys="jf", start=2, on_ready=presented_and_gone)
    wait_state(page, "finish")
    stored = judgments(study)
    assert [j.assignment_item.block for j in stored] == [0, 0, 1, 1]
    # Each block is its own staircase from 500 ms (Zhou et al. 2019, §2.1).
    expected = exposure_sequence([j.correct for j in stored], blocks=[j.assignment_item.block for j in stored])
    assert [j.assignment_item.exposure_ms for j in stored] == expected
    assert stored[0].assignment_item.exposure_ms == stored[2].assignment_item.exposure_ms == START_MS
    assert all(j.feedback_shown for j in stored)
    # Response times run from the image's onset: at least its exposure and the four masks.
    assert all(j.response_ms >= j.assignment_item.exposure_ms for j in stored)


def test_a_judgment_costs_one_request_and_no_image_is_asked_for(live_server, desktop):
    study = open_study(items_per_assignment=4, feedback="none")
    page = desktop
    sent: list[tuple[str, str]] = []
    page.on(
        "request",
        lambda request: (
            sent.append((request.method, urlsplit(request.url).path))
            if request.url.startswith(live_server.url)
            else None
        ),
    )
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page)
    answer_trials(page, page, 4)
    wait_state(page, "finish")
    page.wait_for_selector("#finish-code:not([hidden])")
    page_path = Assignment.objects.get().get_absolute_url()
    api = [(method, path.removeprefix(page_path)) for method, path in sent if path.startswith(page_path)]
    api = [call for call in api if call != ("GET", "")]  # the task page itself
    # One state at the start (with the first image's bytes), then one request per judgment: its answer, whose
    # response carries the next image's bytes; then the end.
    assert api == [("GET", "state")] + [("POST", "answer")] * 4 + [("POST", "finish")], sent
    assert not any(path.startswith("/s/i/") for _, path in sent), "no image is asked for by its address"
    assert len(judgments(study)) == 4
