"""The staff side on a public host, through the real login form and middleware on PostgreSQL: failed logins lock
the account and the address (django-axes, behind the proxy's address), a superuser or the cool-off unlocks them,
no staff page opens to a login without its second factor, recovery codes work once, ``staff_2fa`` enrols and
resets, staff sessions are short and end on a password change, and the admin's path moves."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from base64 import b32decode
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from testkit.factories import StaffFactory, authenticator_code, open_study
from webapp.staff import devices

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-tests"
ATTACKER, RESEARCHER, ELSEWHERE = "203.0.113.7", "198.51.100.20", "192.0.2.44"
LIMIT = 20
# The modules of every view in the URLconf: a view in any other module is a page this file has not classified.
STAFF_VIEW_MODULES = {"runs.views", "annotation.staff_views", "annotation.preview"}
PUBLIC_VIEW_MODULES = {"annotation.views", "django.views.generic.base"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def behind_nginx(settings: Any) -> Any:
    """The production shape: one proxy in front, a short cool-off (seconds, not minutes). Passwords hash fast:
    these tests post dozens of logins, and nothing here depends on the hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ANNOTATION_PROXY_COUNT = 1
    settings.AXES_COOLOFF_TIME = timedelta(seconds=3)
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    return settings


@pytest.fixture
def two_factor(behind_nginx: Any) -> Any:
    behind_nginx.STAFF_2FA = True
    return behind_nginx


def log_in(client: Client, username: str, password: str = PASSWORD, *, code: str = "", address: str = RESEARCHER):
    """The admin's login form as posted through nginx, with a forged entry ahead of the address nginx appends."""
    forged = f"10.{len(client.cookies)}.{int(time.time() * 1000) % 250}.1"
    data = {"username": username, "password": password, "otp_token": code, "next": "/runs/"}
    return client.post(reverse("admin:login"), data, HTTP_X_FORWARDED_FOR=f"{forged}, {address}")


def logged_in(client: Client) -> bool:
    response = client.get(reverse("runs:list"))
    assert response.status_code in (200, 302)
    return response.status_code == 200


def fail(client: Client, username: str, times: int, address: str = ATTACKER) -> list[int]:
    return [log_in(client, username, "wrong-password", address=address).status_code for _ in range(times)]


def test_twenty_wrong_passwords_lock_the_account_and_the_address_until_a_superuser_unlocks(
    client, behind_nginx, caplog
):
    target, colleague, admin = StaffFactory(), StaffFactory(), StaffFactory()
    statuses = fail(client, target.username, LIMIT)
    assert any(
        "Locking out" in r.message and target.username in r.message and ATTACKER in r.message for r in caplog.records
    )
    assert statuses[:-1] == [200] * (LIMIT - 1), "the form again, with its error"
    assert statuses[-1] == 429, "the twentieth failure locks"
    # The forged first entries of X-Forwarded-For changed every time: the address counted is nginx's.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    assert AccessFailureLog.objects.filter(username=target.username).count() == LIMIT

    locked_account = log_in(Client(), target.username, address=RESEARCHER)
    assert locked_account.status_code == 429 and b"too many login attempts" in locked_account.content
    locked_address = Client()
    assert log_in(locked_address, colleague.username, address=ATTACKER).status_code == 429
    assert not logged_in(locked_address)
    elsewhere = Client()
    assert log_in(elsewhere, colleague.username, address=ELSEWHERE).status_code == 302 and logged_in(elsewhere)

    # A superuser sees the lockout in the admin and deletes it.
    superuser = Client()
    assert log_in(superuser, admin.username, address=ELSEWHERE).status_code == 302
    attempts = reverse("admin:axes_accessattempt_changelist")
    page = superuser.get(attempts)
    assert page.status_code == 200 and target.username.encode() in page.content and ATTACKER.encode() in page.content
    chosen = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    confirm = {"action": "delete_selected", "_selected_action": chosen}
    assert superuser.post(attempts, {**confirm, "post": "yes"}).status_code == 302
    assert not AccessAttempt.objects.exists()
    unlocked = Client()
    assert log_in(unlocked, target.username, address=RESEARCHER).status_code == 302 and logged_in(unlocked)
    assert log_in(Client(), colleague.username, address=ATTACKER).status_code == 302, "the address too"


def test_the_lock_lifts_after_the_cool_off(client, behind_nginx):
    target = StaffFactory()
    assert fail(client, target.username, LIMIT)[-1] == 429
    assert log_in(Client(), target.username).status_code == 429, "the right password, refused while locked"
    time.sleep(behind_nginx.AXES_COOLOFF_TIME.total_seconds() + 0.5)
    after = Client()
    assert log_in(after, target.username).status_code == 302 and logged_in(after)


def test_annotators_pages_answer_a_locked_address(client, behind_nginx):
    study = open_study(items_per_assignment=2)
    assert fail(client, StaffFactory().username, LIMIT)[-1] == 429
    annotator = Client(HTTP_X_FORWARDED_FOR=ATTACKER)
    entry = annotator.post(reverse("annotation:entry", args=[study.public_id]), {"consent": "yes"})
    assert entry.status_code == 303
    assert annotator.get(entry["Location"]).status_code == 200


def test_wrong_codes_count_as_failed_logins(client, two_factor):
    target = StaffFactory()
    devices.enrol(target)
    statuses = [log_in(client, target.username, code="000000", address=ATTACKER).status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]
    assert not logged_in(client)
    assert log_in(Client(), target.username, code=authenticator_code(target), address=ELSEWHERE).status_code == 429


def staff_page_urls() -> list[str]:
    """Every page of the dashboard and of the studies' results, found in the URLconf, and a sample of the admin's
    (the admin site refuses them all through one has_permission)."""
    found: list[str] = []
    modules: set[str] = set()

    def walk(patterns: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
                continue
            assert isinstance(pattern, URLPattern)
            module = pattern.callback.__module__
            modules.add(module)
            if module in STAFF_VIEW_MODULES:
                kwargs = {name: 1 for name in pattern.pattern.converters}
                found.append(reverse(f"{namespace}{pattern.name}", kwargs=kwargs))

    walk(get_resolver().url_patterns, "")
    assert modules <= STAFF_VIEW_MODULES | PUBLIC_VIEW_MODULES, f"views not classified here: {modules}"
    admin = [
        reverse("admin:index"),
        reverse("admin:runs_trainingrun_changelist"),
        reverse("admin:runs_trainingrun_add"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:axes_accessattempt_changelist"),
        reverse("admin:otp_totp_totpdevice_changelist"),
        reverse("admin:password_change"),
    ]
    return found + admin


def test_a_staff_login_without_its_second_factor_reaches_no_staff_page(client, two_factor):
    staff = StaffFactory()
    devices.enrol(staff)
    urls = staff_page_urls()
    assert {reverse("runs:list"), reverse("annotation:export_judgments", args=[1])} <= set(urls)

    no_code = log_in(client, staff.username)
    assert no_code.status_code == 200 and b"correct username, password and code" in no_code.content
    # Any session logged in by a password alone (another login path, a forced login) is no login at all.
    client.force_login(staff)
    login = reverse("admin:login")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login), url
    assert "names" not in client.get("/health/").json()["workers"], "nor /health/'s staff details"

    verified = Client()
    assert log_in(verified, staff.username, code=authenticator_code(staff)).status_code == 302
    for url in urls:
        status = verified.get(url).status_code
        # 404: there is no run or study #1, the view itself answered; 286: htmx's "stop polling" of an idle table.
        assert status in (200, 286, 404), f"{url}: {status}"
    assert verified.get(reverse("admin:index")).status_code == 200 and logged_in(verified)
    device = TOTPDevice.objects.get(user=staff)
    qr = verified.get(reverse("admin:otp_totp_totpdevice_qrcode", args=[device.pk]))
    assert qr.status_code == 200 and qr["Content-Type"].startswith("image/svg"), "enrolment from the admin"


def test_a_recovery_code_works_once(two_factor):
    staff = StaffFactory()
    codes = devices.enrol(staff).recovery_codes
    assert len(codes) == devices.RECOVERY_CODES
    first = Client()
    assert log_in(first, staff.username, code=codes[0].upper()).status_code == 302 and logged_in(first)
    again = Client()
    assert log_in(again, staff.username, code=codes[0]).status_code == 200 and not logged_in(again)
    time.sleep(1.1)  # django-otp throttles a device for a second after a failure
    assert log_in(again, staff.username, code=codes[1]).status_code == 302 and logged_in(again)


def test_the_command_enrols_and_resets_a_lost_phone(two_factor):
    staff = StaffFactory()
    out = io.StringIO()
    call_command("staff_2fa", "enrol", staff.username, stdout=out)
    printed = out.getvalue()
    secret = next(line.removeprefix("key: ") for line in printed.splitlines() if line.startswith("key: "))
    assert TOTPDevice.objects.get(user=staff).bin_key == b32decode(secret)
    assert "otpauth://totp/" in printed and any(block in printed for block in "\u2580\u2584\u2588"), "a QR code"
    old_code = printed.split("recovery codes")[1].split()[-1]
    with pytest.raises(CommandError, match="already has an authenticator"):
        call_command("staff_2fa", "enrol", staff.username, stdout=io.StringIO())

    phone = Client()
    assert log_in(phone, staff.username, code=authenticator_code(staff)).status_code == 302 and logged_in(phone)
    old_device = TOTPDevice.objects.get(user=staff)

    out = io.StringIO()
    call_command("staff_2fa", "reset", staff.username, "--no-qr", stdout=out)
    assert not logged_in(phone), "the session the lost phone verified is over"
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()
    assert log_in(Client(), staff.username, code=old_code).status_code == 200, "the old recovery codes are void"
    time.sleep(1.1)
    new_phone = Client()
    assert log_in(new_phone, staff.username, code=authenticator_code(staff)).status_code == 302 and logged_in(new_phone)

    status = io.StringIO()
    call_command("staff_2fa", "status", stdout=status)
    assert f"{staff.username}: enrolled, {devices.RECOVERY_CODES} recovery codes left" in status.getvalue()
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("staff_2fa", "reset", "nobody")


def test_staff_sessions_are_shorter_than_annotators_and_end_on_a_password_change(behind_nginx):
    study = open_study()
    annotator = Client()
    annotator.post(reverse("annotation:entry", args=[study.public_id]), {"consent": "yes"})
    assert annotator.session.get_expiry_age() == django_settings.SESSION_COOKIE_AGE, "an invitation resumes for weeks"
    staff = StaffFactory()
    laptop, desk = Client(), Client()
    assert log_in(laptop, staff.username).status_code == 302 and log_in(desk, staff.username).status_code == 302
    assert laptop.session.get_expiry_age() == django_settings.STAFF_SESSION_SECONDS
    assert django_settings.STAFF_SESSION_SECONDS < django_settings.SESSION_COOKIE_AGE
    assert laptop.cookies["sessionid"]["max-age"] == django_settings.STAFF_SESSION_SECONDS

    changed = desk.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": "a-new-long-pass-2026", "new_password2": "a-new-long-pass-2026"},
    )
    assert changed.status_code == 302
    assert logged_in(desk), "the session that changed it goes on"
    assert not logged_in(laptop), "every other session of the user ends"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("lab-staff/", None),
        ("runs/", "DJANGO_ADMIN_PATH='runs/': /runs/ is the site's own"),
        ("", "DJANGO_ADMIN_PATH='': expected a URL path"),
        ("a b/", "DJANGO_ADMIN_PATH='a b/': expected a URL path"),
    ],
)
def test_the_admin_path_is_configurable(value, error):
    script = (
        "from django.urls import resolve, reverse, Resolver404\n"
        "print(reverse('admin:login'))\n"
        "try:\n    resolve('/admin/')\nexcept Resolver404:\n    print('no /admin/')\n"
    )
    env = {**os.environ, "DJANGO_ADMIN_PATH": value}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if error is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["/lab-staff/login/", "no", "/admin/"]
    else:
        assert result.returncode != 0 and error in result.stderr, result.stderr


def test_the_demo_admin_logs_in_with_its_printed_password_even_after_a_lockout(client, behind_nginx):
    """The demo keeps the second factor off; a new demo password also lifts a lock left on its account."""
    from runs.demo import ensure_admin

    assert not django_settings.STAFF_2FA
    account = ensure_admin(password="first-demo-password")
    assert fail(client, account.user.username, LIMIT, address=RESEARCHER)[-1] == 429
    account = ensure_admin(password="second-demo-password")
    demo = Client()
    assert log_in(demo, "admin", "second-demo-password").status_code == 302 and logged_in(demo)
