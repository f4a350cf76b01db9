"""``manage.py demo_study``: the human-study half of the README's demo.

Given the demo run (``manage.py demo_web`` queued it; a worker trained it), queue a pool of real images of
its dataset and a pool sampled from its newest checkpoint, wait for a worker to write both, then create and
open a study that mixes them and print the annotator's link and the results page.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import demo, services
from webapp.runs import services as run_services


def add_study_arguments(parser: CommandParser) -> None:
    parser.add_argument("--size", type=int, default=200, help="images per pool (default 200)")
    parser.add_argument("--items", type=int, default=40, help="images per annotator (default 40)")
    parser.add_argument("--judgments", type=int, default=3, help="judgments wanted per image (default 3)")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the pools (default 600)")
    parser.add_argument("--host", default="127.0.0.1:8000", help="where the site is served")


def ensure_study(command: BaseCommand, options: dict[str, Any], run_id: int | None = None) -> None:
    """Open the demo study (or find the open one) and print its links; errors become ``CommandError``."""
    base = options["host"] if "://" in options["host"] else f"http://{options['host']}"
    study = demo.open_demo_study()
    try:
        if study is None or options.get("again"):
            study = demo.create_demo_study(
                demo.finished_demo_run(run_id),
                size=options["size"],
                items=options["items"],
                judgments=options["judgments"],
                wait=options["wait"],
                echo=command.stdout.write,
            )
        else:
            command.stdout.write(f"demo study #{study.pk} is already open (--again opens a new one)")
    except (services.ServiceError, run_services.ServiceError) as exc:
        raise CommandError(str(exc)) from None
    command.stdout.write("\n".join(demo.study_lines(study, base)))


class Command(BaseCommand):
    help = "Open a study mixing the demo run's samples with real images, and print its links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, help="training run id (default: the newest finished demo run)")
        parser.add_argument("--again", action="store_true", help="open a new study even if a demo study is open")
        add_study_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_study(self, options, options["run"])
