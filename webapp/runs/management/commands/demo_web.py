"""``manage.py demo_web``: the web half of the README's demo, on an embedded SQLite database.

Migrates, creates (or resets) an admin account and prints its credentials, queues the engine's small
demo run on Fashion-MNIST through the services, and prints the commands that start a worker and serve
the dashboard. Running it again reuses the account and the run unless told otherwise.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.runs import engine, services
from webapp.runs.models import RunStatus, TrainingRun

DEMO_NAME = "demo: Fashion-MNIST, 100 labels"


class Command(BaseCommand):
    help = "Migrate, create an admin account, and queue a small Fashion-MNIST training run for the dashboard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help="admin account (default: admin)")
        parser.add_argument("--password", help="its password (default: a new random one, printed)")
        parser.add_argument("--steps", type=int, help="training steps of the demo run (default: the engine demo's)")
        parser.add_argument("--again", action="store_true", help="queue a new demo run even if one exists")
        parser.add_argument("--host", default="127.0.0.1:8000", help="where the dashboard will be served")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        password = options["password"] or secrets.token_urlsafe(12)
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()

        overrides = engine.demo_overrides()
        # A fresh machine's demo: the CPU, even where a GPU would be found.
        overrides.setdefault("run", {})["device"] = "cpu"
        if options["steps"] is not None:
            overrides.setdefault("optim", {})["steps"] = options["steps"]
        try:
            config = engine.build_config("improved_gan_ssl", overrides)
        except engine.ConfigError as exc:
            raise CommandError(str(exc)) from None
        run = TrainingRun.objects.filter(name=DEMO_NAME).exclude(status=RunStatus.FAILED).first()
        if run is None or options["again"]:
            run = services.create_run(config, name=DEMO_NAME, user=user, notes="queued by manage.py demo_web")
            verb = "queued"
        else:
            verb = f"already there ({run.status})"

        host = options["host"]
        broker = "Redis" if settings.REDIS_URL else f"the file broker in {settings.DATA_DIR / 'broker'}"
        self.stdout.write(
            "\n".join(
                [
                    f"admin account {'created' if created else 'reset'}:",
                    f"  username: {user.get_username()}",
                    f"  password: {password}",
                    f"demo run #{run.pk} {verb}: {run.total_steps} steps of {run.recipe} on {run.dataset}",
                    f"dashboard: http://{host}/runs/{run.pk}/  (admin: http://{host}/admin/)",
                    "",
                    f"Start a worker (it trains the run; tasks travel through {broker}):",
                    "  .venv/bin/celery -A webapp worker -Q gpu,cpu --concurrency 2 --prefetch-multiplier 1 "
                    "--beat --loglevel INFO",
                    "and serve the dashboard:",
                    f"  .venv/bin/python manage.py runserver {host}",
                    "(both with the same environment as this command, e.g. DJANGO_DEBUG=1)",
                ]
            )
        )
