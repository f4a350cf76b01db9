from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StaffConfig(AppConfig):
    default = True
    name = "webapp.staff"
    label = "staff"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from webapp.staff.sessions import shorten_staff_session

        user_logged_in.connect(shorten_staff_session, dispatch_uid="webapp.staff.shorten_staff_session")


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with the project's site as ``admin.site`` (every app's ``@admin.register`` lands there)."""

    default = False  # "webapp.staff" in INSTALLED_APPS means StaffConfig
    default_site = "webapp.staff.site.StaffAdminSite"
