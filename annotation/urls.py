"""The annotators' pages under /s/ (links handed to platforms) and the researchers' under /studies/."""

from django.urls import path

from annotation import staff_views, views

app_name = "annotation"

urlpatterns = [
    path("s/<str:public_id>/", views.entry, name="entry"),
    path("s/a/<str:token>/", views.task, name="task"),
    path("s/a/<str:token>/state", views.api_state, name="state"),
    path("s/a/<str:token>/answer", views.api_answer, name="answer"),
    path("s/a/<str:token>/finish", views.api_finish, name="finish"),
    path("s/i/<str:token>", views.image, name="image"),
    path("studies/<int:pk>/", staff_views.results, name="results"),
    path("studies/<int:pk>/judgments.csv", staff_views.export_judgments, name="export_judgments"),
    path("studies/<int:pk>/summary.csv", staff_views.export_summary, name="export_summary"),
    path("studies/items/<int:pk>/image", staff_views.item_image, name="item_image"),
]
