"""The annotator's page without surprises, in a real browser: feedback that never moves the buttons and waits for
a tap, keys read by their place on the keyboard, the end with its full progress and a code to copy (the same when
the worker comes back), a way to withdraw, and a researcher's preview that stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from annotation.actions.studies import create_study, set_study_pool
from annotation.models import Annotator, Assignment, Judgment
from testkit.browser import answer_trials, consent, judgments, practice, wait_state
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, StaffFactory, open_study

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
BUTTONS = ("#answer-real", "#answer-generated")


def boxes(page: Any) -> list[dict[str, float]]:
    return [page.locator(button).bounding_box() for button in BUTTONS]


def wait_ready(page: Any, done: int) -> None:
    page.wait_for_function(
        "i => document.body.dataset.state === 'ready' && document.getElementById('progress').value === i", arg=done
    )


def test_feedback_never_moves_the_buttons_and_waits_for_a_tap(live_server, phone):
    study = open_study(items_per_assignment=3, feedback="each", feedback_ms=0)
    page = phone
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page)
    wait_ready(page, 0)
    before = boxes(page)
    page.tap("#answer-real")
    wait_state(page, "feedback")
    during = boxes(page)
    assert page.locator("#feedback-text").is_visible()
    page.wait_for_timeout(1200)
    assert page.evaluate("document.body.dataset.state") == "feedback", "a duration of 0 waits for the annotator"
    page.tap("#feedback")
    wait_ready(page, 1)
    after = boxes(page)
    assert before == during == after, f"the buttons moved: {before} {during} {after}"
    page.tap("#answer-generated")
    wait_state(page, "feedback")
    page.tap("#frame")  # the image goes on too
    wait_ready(page, 2)
    page.tap("#answer-real")
    wait_state(page, "feedback")
    page.keyboard.press("Space")
    wait_state(page, "finish")
    stored = judgments(study)
    assert [j.answer_real for j in stored] == [True, False, True]
    assert {(j.input_kind, j.viewport_width, j.viewport_height, j.device_pixel_ratio) for j in stored} == {
        ("tap", 390, 844, 2.0)
    }


def test_feedback_goes_by_itself_after_the_studys_duration(live_server, desktop):
    study = open_study(items_per_assignment=2, feedback="each", feedback_ms=300)
    page = desktop
    # A browser reporting a ratio the server would refuse: the page leaves it out rather than lose the answer.
    page.add_init_script("Object.defineProperty(window, 'devicePixelRatio', {get: () => 100})")
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page)
    wait_ready(page, 0)
    page.click("#answer-real")
    wait_state(page, "feedback")
    wait_ready(page, 1)  # nobody pressed anything
    page.click("#answer-generated")
    wait_state(page, "finish")
    stored = judgments(study)
    assert {(j.input_kind, j.viewport_width, j.device_pixel_ratio) for j in stored} == {("click", 1280, None)}


def press(page: Any, code: str, key: str) -> None:
    """A key by its place (``code``) typing ``key``: what a non-QWERTY layout sends."""
    page.evaluate(
        "([code, key]) => document.body.dispatchEvent(new KeyboardEvent('keydown', {code, key, bubbles: true}))",
        [code, key],
    )


def test_keys_are_read_by_their_place_on_the_keyboard(live_server, desktop):
    study = open_study(items_per_assignment=2)
    page = desktop
    page.goto(live_server.url + study.entry_path)
    consent(page)
    wait_state(page, "intro")
    press(page, "Space", " ")
    wait_state(page, "practice")
    for code, key in (("KeyF", "a"), ("KeyJ", "q")):  # the practice wants F, then J
        page.wait_for_function("() => !document.getElementById('answer-real').disabled")
        press(page, code, key)
    wait_state(page, "pause")
    press(page, "Enter", "Enter")
    wait_ready(page, 0)
    press(page, "KeyA", "f")  # types "f" on another layout, but is not the key in F's place
    page.wait_for_timeout(300)
    assert page.evaluate("document.getElementById('progress').value") == 0
    press(page, "KeyF", "a")
    wait_ready(page, 1)
    press(page, "KeyJ", "q")
    wait_state(page, "finish")
    stored = judgments(study)
    assert [j.answer_real for j in stored] == [True, False]
    assert {(j.input_kind, j.viewport_width, j.viewport_height, j.device_pixel_ratio) for j in stored} == {
        ("key", 1280, 800, 1.0)
    }


def finished(page: Any, code: str, total: int) -> None:
    wait_state(page, "finish")
    page.wait_for_selector("#finish-code-box:not([hidden])")
    assert page.inner_text("#finish-code") == code
    assert page.inner_text("#progress-text") == f"{total} / {total}"
    assert page.evaluate("document.getElementById('progress').value") == total


def test_the_end_shows_full_progress_a_code_to_copy_and_the_same_when_the_worker_comes_back(live_server, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        has_touch=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(15_000)
    study = open_study(items_per_assignment=3)
    page = context.new_page()
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page)
    answer_trials(page, page, 3)
    finished(page, study.completion_code, 3)
    page.tap("#copy-code")
    page.wait_for_function("() => document.getElementById('copy-status').textContent === 'Copied.'")
    assert page.evaluate("navigator.clipboard.readText()") == study.completion_code
    assert Assignment.objects.get().stage == Assignment.Stage.SUBMITTED
    task = page.url
    page.goto(task)  # the worker comes back
    finished(page, study.completion_code, 3)
    # Where the page has no clipboard API (plain HTTP, a frame not allowed it), the selected code is copied.
    page.evaluate("navigator.clipboard.writeText('something else')")
    bare = context.new_page()
    bare.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    bare.goto(task)
    finished(bare, study.completion_code, 3)
    bare.tap("#copy-code")
    bare.wait_for_function("() => document.getElementById('copy-status').textContent === 'Copied.'")
    assert page.evaluate("navigator.clipboard.readText()") == study.completion_code
    context.close()


def test_an_annotator_may_withdraw_and_is_told_what_happens(live_server, desktop):
    study = open_study(items_per_assignment=4)
    page = desktop
    page.goto(live_server.url + study.entry_path)
    consent(page)
    practice(page, page)
    answer_trials(page, page, 1)
    wait_ready(page, 1)
    page.click("#withdraw")
    wait_state(page, "withdraw-confirm")
    assert "You may close this page." in page.inner_text("#withdraw-platform")
    page.keyboard.press("f")  # no answer while the withdrawal is asked
    page.click("#withdraw-no")
    wait_ready(page, 1)
    page.keyboard.press("j")
    wait_ready(page, 2)
    page.click("#withdraw")
    page.click("#withdraw-yes")
    wait_state(page, "withdrawn")
    assert "You have withdrawn" in page.inner_text("#withdrawn")
    assignment = Assignment.objects.get()
    assert assignment.stage == Assignment.Stage.WITHDRAWN
    assert [j.answer_real for j in judgments(study)] == [True, False]
    page.reload()
    wait_state(page, "withdrawn")


def test_an_mturk_worker_who_withdraws_is_asked_to_return_the_hit(live_server, desktop):
    study = open_study(items_per_assignment=2)
    params = "assignmentId=A1&hitId=H1&workerId=W1&turkSubmitTo=https://workersandbox.mturk.com"
    page = desktop
    page.goto(f"{live_server.url}{study.entry_path}?{params}")
    consent(page)
    wait_state(page, "intro")
    page.click("#withdraw")
    page.click("#withdraw-yes")
    wait_state(page, "withdrawn")
    assert "return the HIT" in page.inner_text("#withdrawn-text")


def test_a_researcher_previews_a_draft_as_an_annotator_and_nothing_is_stored(live_server, desktop):
    staff = StaffFactory()
    study = create_study(name="INTERNAL name", **STUDY_TEXTS, items_per_assignment=3, feedback="each", feedback_ms=300)
    for kind in ("real", "generated"):
        set_study_pool(study, ImagePoolFactory(kind=kind))
    page = desktop
    change = reverse("admin:annotation_study_change", args=[study.pk])
    page.goto(f"{live_server.url}/admin/login/?next={change}")
    page.fill("input[name=username]", staff.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("input[type=submit]")
    page.click("#preview-link")
    assert "nothing you answer here is stored" in page.inner_text("main")
    assert "INTERNAL" not in page.inner_text("body") and STUDY_TEXTS["title"] in page.inner_text("h1")
    consent(page)
    practice(page, page)
    shown: list[str] = []
    answer_trials(page, page, 3, keys="f", feedback=shown)
    finished(page, study.completion_code, 3)
    assert "nothing you answered was stored" in page.inner_text("#finish-text")
    assert len(shown) == 3
    for model in (Annotator, Assignment, Judgment):
        assert not model.objects.exists()


def test_an_mturk_worker_who_comes_back_sees_the_end_again_without_a_second_post(live_server, desktop):
    study = open_study(items_per_assignment=2)
    host = "https://workersandbox.mturk.com"
    posts: list[str] = []

    def external_submit(route: Any) -> None:
        posts.append(route.request.post_data or "")
        route.fulfill(status=200, content_type="text/html", body="<p>submitted</p>")

    page = desktop
    page.route(f"{host}/mturk/externalSubmit", external_submit)
    page.goto(f"{live_server.url}{study.entry_path}?assignmentId=A2&hitId=H2&workerId=W2&turkSubmitTo={host}")
    consent(page)
    practice(page, page)
    answer_trials(page, page, 2)
    page.wait_for_url(f"{host}/mturk/externalSubmit")
    assert len(posts) == 1
    page.goto(live_server.url + reverse("annotation:task", args=[Assignment.objects.get().token]))
    finished(page, study.completion_code, 2)
    assert page.locator("#submit-form button").is_visible(), "MTurk's form is offered, not posted again"
    page.wait_for_timeout(500)
    assert len(posts) == 1 and page.url.startswith(live_server.url)
