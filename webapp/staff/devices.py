"""Each staff user's second factor: one authenticator app (TOTP, RFC 6238, through django-otp) and one set of
recovery codes (django-otp's static tokens, each accepted once). The management command ``staff_2fa`` calls these;
a key is only ever shown to whoever runs it, so a stolen password alone can never enrol a device."""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
APP_DEVICE = "authenticator app"
CODES_DEVICE = "recovery codes"


class EnrolmentError(Exception):
    """A refused change to a user's devices, said in words for the operator."""


@dataclass(frozen=True)
class Enrolment:
    user: Any
    config_url: str  # otpauth://totp/... for the app's QR code scanner
    secret: str  # the same key in base32, for an app that is given it by hand
    recovery_codes: list[str]


def is_enrolled(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def enrol(user: Any, *, replace: bool = False) -> Enrolment:
    """A new authenticator key and new recovery codes; the user's old ones stop working (``replace``), and so do
    the sessions they verified. Refused for a user who already has a key unless ``replace``."""
    if not user.is_staff:
        raise EnrolmentError(f"{user.get_username()} is not staff: the second factor guards staff logins only")
    if is_enrolled(user) and not replace:
        raise EnrolmentError(f"{user.get_username()} already has an authenticator: reset it to issue a new one")
    remove_devices(user)
    app = TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=True)
    return Enrolment(user, app.config_url, b32encode(app.bin_key).decode(), new_recovery_codes(user))


def reset(user: Any) -> Enrolment:
    """A lost or stolen phone: the old key and codes are void at once, a new key and codes are issued."""
    return enrol(user, replace=True)


@transaction.atomic
def new_recovery_codes(user: Any) -> list[str]:
    """Fresh recovery codes, replacing any left: each lets one login through without the app."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=CODES_DEVICE, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def remove_devices(user: Any) -> int:
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    codes, _ = StaticDevice.objects.filter(user=user).delete()
    return removed + codes


def device_for_token(user: Any, token: str) -> Device | None:
    """The device a typed code is for: digits are the app's, anything else a recovery code. One device is tried,
    so a code never counts as a failure against the other (django-otp throttles each device on its failures)."""
    model = TOTPDevice if token.isdigit() else StaticDevice
    return model.objects.select_for_update().filter(user=user, confirmed=True).first()
