"""Fixtures of the human-study tests: no pacing or address limit unless a test asks for them."""

from __future__ import annotations

from typing import Any

import pytest

from testkit.factories import StaffFactory


@pytest.fixture(autouse=True)
def unpaced(settings: Any) -> None:
    """Answers as fast as a test makes them; the tests of the limits set their own."""
    settings.ANNOTATION_MIN_ANSWER_MS = 0
    settings.ANNOTATION_RATE_LIMIT = 1_000_000


@pytest.fixture
def staff_client(client: Any, db: None) -> Any:
    client.force_login(StaffFactory())
    return client
