"""With STAFF_2FA, a session whose login was not verified by a second factor is anonymous on every page: the admin,
the dashboard (/runs/), the studies' results and exports, and /health/'s staff details all see no user, whichever
login path (or forced login) made the session."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django_otp.middleware import OTPMiddleware


def second_factor_done(user: Any) -> bool:
    """Whether this user may act as logged in: always without STAFF_2FA, else once a device verified the login."""
    return not settings.STAFF_2FA or bool(getattr(user, "is_verified", lambda: False)())


class SecondFactorMiddleware(OTPMiddleware):
    """django-otp's middleware (``user.otp_device``, ``user.is_verified()``), then the rule above."""

    def _verify_user_sync(self, request: HttpRequest, user: Any) -> Any:
        return self._unless_unverified(super()._verify_user_sync(request, user))

    async def _verify_user_async_via_auser(self, request: HttpRequest, auser: Any) -> Any:
        return self._unless_unverified(await super()._verify_user_async_via_auser(request, auser))

    def _unless_unverified(self, user: Any) -> Any:
        if user.is_authenticated and not second_factor_done(user):
            user = AnonymousUser()
            self._init_user_fields(user)
        return user


def verified_user(request: HttpRequest) -> Any:
    """The request's user as the middleware would see it, for code that runs before it (/health/)."""
    return SecondFactorMiddleware(lambda request: None)._verify_user_sync(request, get_user(request))
