"""``manage.py demo_web``: the web half of the README's demo, on an embedded SQLite database.

Migrates, creates (or resets) an admin account and prints its credentials, queues the engine's small
demo run on Fashion-MNIST through the actions, and prints the commands that start a worker and serve
the dashboard. ``manage.py demo`` does all of it, worker and server included.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from runs import actions, demo


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
        account = demo.ensure_admin(options["username"], options["password"])
        try:
            run, queued = demo.queue_demo_run(account.user, steps=options["steps"], again=options["again"])
        except actions.RunError as exc:
            raise CommandError(str(exc)) from None
        host = options["host"]
        broker = "Redis" if settings.REDIS_URL else f"the file broker in {settings.DATA_DIR / 'broker'}"
        self.stdout.write(
            "\n".join(
                [
                    *account_lines(account),
                    f"demo run #{run.pk} {'queued' if queued else f'already there ({run.status})'}: "
                    f"{run.total_steps} steps of {run.recipe} on {run.dataset}",
                    f"dashboard: http://{host}/runs/{run.pk}/  (admin: http://{host}{reverse('admin:index')})",
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


def account_lines(account: demo.DemoAccount) -> list[str]:
    return [
        f"admin account {'created' if account.created else 'reset'}:",
        f"  username: {account.user.get_username()}",
        f"  password: {account.password}",
    ]
