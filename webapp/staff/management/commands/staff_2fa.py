"""``manage.py staff_2fa``: staff users' second factor, from the server's shell (deploy/README.md, "Security").

staff_2fa status              every staff user: enrolled or not, recovery codes left
staff_2fa enrol USERNAME      a new user's authenticator key (QR code and text) and recovery codes
staff_2fa reset USERNAME      a lost phone: the old key, codes and sessions void, a new key and codes
staff_2fa codes USERNAME      new recovery codes (the old ones void); the app's key is kept
"""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.plugins.otp_static.models import StaticToken

from webapp.staff import devices


class Command(BaseCommand):
    help = "Staff users' second factor: status, enrol USERNAME, reset USERNAME (a lost phone), codes USERNAME."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "enrol", "reset", "codes"])
        parser.add_argument("username", nargs="?", help="the staff user (every action but status)")
        parser.add_argument("--no-qr", action="store_true", help="print the key as text only, without a QR code")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            self._status()
            return
        user = self._user(options["username"], action)
        try:
            if action == "codes":
                self._codes(devices.new_recovery_codes(user))
                return
            enrolment = devices.reset(user) if action == "reset" else devices.enrol(user)
        except devices.EnrolmentError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{user.get_username()}: add this key to an authenticator app (Google Authenticator, ...)")
        if not options["no_qr"]:
            # Drawn for a terminal of light text on a dark background (segno's compact mode): in one write, as
            # Django's output wrapper would end each of segno's pieces with a line break of its own.
            drawing = io.StringIO()
            segno.make(enrolment.config_url, error="m").terminal(out=drawing, compact=True)
            self.stdout.write(drawing.getvalue(), ending="")
        self.stdout.write(f"key: {enrolment.secret}\nURI: {enrolment.config_url}")
        self._codes(enrolment.recovery_codes)
        if action == "reset":
            self.stdout.write("The old key and recovery codes no longer work; sessions they verified are ended.")

    def _user(self, username: str | None, action: str) -> Any:
        if not username:
            raise CommandError(f"staff_2fa {action}: name the user (USERNAME)")
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None

    def _codes(self, codes: list[str]) -> None:
        self.stdout.write("recovery codes (each works once; keep them apart from the phone):")
        self.stdout.write("\n".join(f"  {code}" for code in codes))

    def _status(self) -> None:
        for user in get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username"):
            codes = StaticToken.objects.filter(device__user=user).count()
            state = "enrolled" if devices.is_enrolled(user) else "NOT ENROLLED (cannot log in with DJANGO_STAFF_2FA=1)"
            self.stdout.write(f"{user.get_username()}: {state}, {codes} recovery codes left")
