"""The production security settings in a real browser: a staff login needs its code to reach the dashboard, and an
annotator whose address is locked out of the staff login (django-axes) still takes a whole study, resuming by the
invitation link's session midway."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment
from testkit.browser import answer_trials, consent, judgments, practice, wait_state
from testkit.factories import StaffFactory, authenticator_code, open_study
from webapp.staff import devices

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests"


def fill_login(page: Any, username: str, password: str, code: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.fill("#id_otp_token", code)
    page.click("#login-form input[type=submit]")


def test_two_factor_staff_login_and_an_annotator_behind_a_locked_address(live_server, browser, desktop, settings):
    settings.STAFF_2FA = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    staff = StaffFactory()
    devices.enrol(staff)
    page = desktop
    page.goto(live_server.url + reverse("runs:list"))
    assert reverse("admin:login") in page.url
    fill_login(page, staff.username, PASSWORD, "")
    assert "correct username, password and code" in page.inner_text(".errornote")
    fill_login(page, staff.username, PASSWORD, authenticator_code(staff))
    page.wait_for_url(live_server.url + reverse("runs:list"))

    # The browser and this client both come from 127.0.0.1: twenty failures lock the address.
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        last = attacker.post(reverse("admin:login"), {"username": staff.username, "password": "wrong", "otp_token": ""})
    assert last.status_code == 429

    study = open_study(items_per_assignment=4, feedback="none")
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    context.set_default_timeout(15_000)
    phone = context.new_page()
    phone.goto(live_server.url + study.entry_path)
    consent(phone)
    practice(phone, phone)
    answer_trials(phone, phone, 2)
    phone.wait_for_function("() => document.getElementById('progress').value === 2")
    phone.goto(live_server.url + study.entry_path)  # the invitation link again: its session resumes the assignment
    answer_trials(phone, phone, 2, start=2)
    wait_state(phone, "finish")
    phone.wait_for_selector("#finish-code:not([hidden])")
    assert phone.inner_text("#finish-code") == study.completion_code
    assert [j.answer_real for j in judgments(study)] == [True, False, True, False]
    assert Assignment.objects.get().stage == "submitted"

    locked = context.new_page()
    locked.goto(live_server.url + reverse("admin:login"))
    fill_login(locked, staff.username, PASSWORD, authenticator_code(staff))
    assert "too many login attempts" in locked.inner_text("body")
    context.close()
