"""The web process: it never loads torch, and its settings refuse what is missing or malformed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp import settings as webapp_settings

REPO = Path(__file__).resolve().parents[2]

# Imports every module a web process serves from (each app's urls, admin, views, forms, actions, services,
# models, and the task modules it sends tasks through), asks /health/, then says which heavy modules came.
PROBE = """
import importlib, sys
import django
django.setup()
from django.apps import apps
import webapp.urls, webapp.wsgi
for app in apps.get_app_configs():
    for name in ("urls", "admin", "views", "forms", "actions", "services", "models", "tasks"):
        try:
            importlib.import_module(f"{app.name}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app.name}.{name}":
                raise
# The health endpoint pings the workers through the Celery app: still no torch.
from django.test import Client
health = Client().get("/health/")
assert health.status_code == 200 and health.json()["broker"] == {"ok": True, "transport": "filesystem"}, health.content
print("loaded:", [m for m in ("torch", "torchvision", "gan_engine.training") if m in sys.modules])
"""


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_web_process_never_imports_torch(tmp_path):
    result = _python(PROBE, DJANGO_SETTINGS_MODULE="webapp.settings", DJANGO_DEBUG="1", WEBAPP_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout


def test_outside_debug_a_missing_secret_key_stops_start_up(tmp_path):
    result = _python("import webapp.settings", WEBAPP_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is required unless DJANGO_DEBUG=1" in result.stderr


def test_a_malformed_setting_names_its_variable(tmp_path):
    result = _python("import webapp.settings", DJANGO_DEBUG="maybe", WEBAPP_DATA_DIR=str(tmp_path))
    assert "DJANGO_DEBUG='maybe': expected one of" in result.stderr
    result = _python(
        "import webapp.settings", DJANGO_DEBUG="1", RUN_LEASE_SECONDS="soon", WEBAPP_DATA_DIR=str(tmp_path)
    )
    assert "RUN_LEASE_SECONDS='soon': expected a number" in result.stderr


def test_database_urls(tmp_path):
    pg = webapp_settings._database("postgresql://vtl:s%40cret@db.example:6543/lab?sslmode=require", tmp_path)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "webapp.postgresql",
        "lab",
        "vtl",
        "s@cret",
        "db.example",
        "6543",
    )
    assert pg["OPTIONS"] == {"connect_timeout": 10, "sslmode": "require"}
    assert (
        webapp_settings._database("postgresql://x@y/z?connect_timeout=3", tmp_path)["OPTIONS"]["connect_timeout"] == "3"
    )
    assert webapp_settings._database(None, tmp_path)["NAME"] == tmp_path / "webapp.sqlite3"
    assert webapp_settings._database(f"sqlite:///{tmp_path}/x.db", tmp_path)["NAME"] == tmp_path / "x.db"
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme 'mysql'"):
        webapp_settings._database("mysql://x@y/z", tmp_path)
    with pytest.raises(ImproperlyConfigured, match="needs the database NAME"):
        webapp_settings._database("postgresql://x@y:5432/", tmp_path)
