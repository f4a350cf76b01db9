"""The project's admin site: Django's, with the login form of webapp.staff.forms and, with STAFF_2FA, no admin page
for a login that its second factor did not verify (the middleware already makes such a login anonymous; this holds
even where the middleware is left out)."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import HttpRequest

from webapp.staff.forms import StaffLoginForm
from webapp.staff.middleware import second_factor_done


class StaffAdminSite(AdminSite):
    login_form = StaffLoginForm
    login_template = "staff/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and second_factor_done(request.user)
