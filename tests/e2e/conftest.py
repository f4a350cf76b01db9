"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Chromium for one test. Playwright's synchronous API keeps an event loop in the test's thread for as long
    as it runs, and Django refuses database calls from a thread with a loop unless told otherwise: the test's own
    queries run between browser calls, never inside the loop. Both end with the test, so no other test runs
    beside a loop."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        # Beside the loop the test's queries ran on connections of their own: close them, or the test database
        # cannot be dropped at the end of the session.
        connections.close_all()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page the size of a phone held upright."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def unpaced(settings: Any) -> None:
    """The browser answers as fast as the page allows; limits are tested in tests/annotation."""
    settings.ANNOTATION_MIN_ANSWER_MS = 0
    settings.ANNOTATION_RATE_LIMIT = 1_000_000
