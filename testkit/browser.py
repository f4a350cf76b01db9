"""The annotator's page and the staff pages driven in a real browser (Playwright's pages): the steps every
browser test takes on its way to what it checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client

from annotation.models import Judgment


def wait_state(view: Any, state: str) -> None:
    view.wait_for_function("s => document.body.dataset.state === s", arg=state)


def consent(page: Any) -> None:
    """Tick the consent box (focused on load) and start, with keys only."""
    page.wait_for_function("() => document.activeElement && document.activeElement.name === 'consent'")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")


def practice(page: Any, view: Any, timed: bool = False) -> None:
    """Through the instructions and the practice of the keys; ``view`` is the page or the frame of the task."""
    wait_state(view, "intro")
    page.keyboard.press("Space")
    wait_state(view, "practice")
    for key in ("f", "j") + (("f",) if timed else ()):
        view.wait_for_function("() => !document.getElementById('answer-real').disabled")
        page.keyboard.press(key)
    wait_state(view, "pause")
    page.keyboard.press("Space")


def answer_trials(
    page: Any,
    view: Any,
    n: int,
    keys: str = "fj",
    *,
    start: int = 0,
    on_ready: Any = None,
    feedback: list | None = None,
) -> None:
    """Answer ``n`` trials with the keys in turn; trial i is answered once it is ready and the bar shows i done.
    With ``feedback``, the feedback line shown after each answer is appended to it."""
    for i in range(start, start + n):
        view.wait_for_function(
            "i => document.body.dataset.state === 'ready' && document.getElementById('progress').value === i", arg=i
        )
        if on_ready is not None:
            on_ready()
        page.keyboard.press(keys[i % len(keys)])
        if feedback is not None:
            wait_state(view, "feedback")
            feedback.append(view.inner_text("#feedback-text"))


def judgments(study: Any) -> list[Judgment]:
    return list(
        Judgment.objects.filter(assignment_item__assignment__study=study)
        .select_related("assignment_item__item")
        .order_by("assignment_item__position")
    )


def logged_in(page: Any, live_server: Any) -> Any:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("researcher", password="pw", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    return page
