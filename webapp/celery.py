"""The Celery app: configured from Django's settings (the CELERY_ names), tasks found in each app's tasks.py.

Workers start with ``celery -A webapp worker``; docs/webapp.md gives the GPU and CPU worker commands.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
