"""The admin's login form: username and password and, with STAFF_2FA, a code in the same step (the authenticator
app's, or a recovery code).

Every failure, password or code, gives one message and counts as a failed login for django-axes: a wrong code says
nothing about whether the password was right, and guessing codes locks out as guessing passwords does."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.db import transaction

from webapp.staff import devices

INVALID_LOGIN = (
    "Please enter the correct username, password and code of a staff account. A new account, or one whose phone "
    "was lost, needs a code from an administrator first."
)


class StaffLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label="Code",
        required=False,
        help_text="From your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if settings.STAFF_2FA:
            self.error_messages = {**self.error_messages, "invalid_login": INVALID_LOGIN}
        else:
            del self.fields["otp_token"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if settings.STAFF_2FA:
            user = self.get_user()
            # django-otp stores the device in the session when Django logs the user in (user_logged_in).
            user.otp_device = self._verified_device(user)
        return cleaned

    def _verified_device(self, user: Any) -> Any:
        token = "".join(self.cleaned_data.get("otp_token", "").split()).lower()
        with transaction.atomic():
            device = devices.device_for_token(user, token) if token else None
            # verify_token refuses while django-otp throttles the device after its failures.
            if device is not None and device.verify_token(token):
                return device
        user_login_failed.send(
            sender=__name__,
            credentials={"username": user.get_username()},
            request=self.request,
        )
        raise forms.ValidationError(INVALID_LOGIN, code="invalid_login")
