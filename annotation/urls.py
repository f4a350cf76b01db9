"""The annotators' pages under /s/ (links handed to platforms) and the researchers' under /studies/."""

from django.urls import path, register_converter

from annotation import preview, staff_views, views
from annotation.models import TOKEN_PATTERN


class TokenConverter:
    """A public id or token: anything else in its place is no page at all (404), before any query."""

    regex = TOKEN_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "token")

app_name = "annotation"

urlpatterns = [
    path("s/<token:public_id>/", views.entry, name="entry"),
    path("s/a/<token:token>/", views.task, name="task"),
    path("s/a/<token:token>/state", views.api_state, name="state"),
    path("s/a/<token:token>/answer", views.api_answer, name="answer"),
    path("s/a/<token:token>/finish", views.api_finish, name="finish"),
    path("s/a/<token:token>/withdraw", views.api_withdraw, name="withdraw"),
    path("s/i/<token:token>", views.image, name="image"),
    path("studies/<int:pk>/", staff_views.results, name="results"),
    path("studies/<int:pk>/plan/", staff_views.plan, name="plan"),
    path("studies/<int:pk>/judgments.csv", staff_views.export_judgments, name="export_judgments"),
    path("studies/<int:pk>/summary.csv", staff_views.export_summary, name="export_summary"),
    path("studies/items/<int:pk>/image", staff_views.item_image, name="item_image"),
    path("studies/<int:pk>/preview/", preview.entry, name="preview"),
    path("studies/<int:pk>/preview/task/", preview.task, name="preview_task"),
    path("studies/<int:pk>/preview/state", preview.api_state, name="preview_state"),
    path("studies/<int:pk>/preview/answer", preview.api_answer, name="preview_answer"),
    path("studies/<int:pk>/preview/finish", preview.api_finish, name="preview_finish"),
    path("studies/<int:pk>/preview/withdraw", preview.api_withdraw, name="preview_withdraw"),
    path("studies/<int:pk>/preview/i/<token:token>", preview.image, name="preview_image"),
]
