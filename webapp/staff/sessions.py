"""Staff sessions last STAFF_SESSION_SECONDS: a stolen or forgotten staff cookie is worth hours, not the two weeks
that an annotator's session keeps so that an invitation link resumes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def shorten_staff_session(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and user.is_staff:
        request.session.set_expiry(settings.STAFF_SESSION_SECONDS)
