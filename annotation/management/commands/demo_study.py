"""``manage.py demo_study``: the human-study half of the README's demo.

Given the demo run (``manage.py demo_web`` queued it; a worker trained it), sweep its checkpoints: a pool sampled
from each, scored (IS, FID, C2ST), and a pool of real images of its dataset, in a study that opens once a worker has
done it all; print the annotator's link and the results page, then (with the site served at ``--host``) let
simulated observers take it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import demo
from annotation.actions.errors import StudyError
from annotation.demo import DEMO_OBSERVERS
from annotation.models import Annotator, Study
from annotation.simulation.driver import DriverError
from runs import actions
from runs.demo import DEMO_CHECKPOINTS


def add_study_arguments(parser: CommandParser) -> None:
    parser.add_argument("--size", type=int, default=100, help="images per pool (default 100)")
    parser.add_argument(
        "--checkpoints", type=int, default=DEMO_CHECKPOINTS, help=f"checkpoints swept (default {DEMO_CHECKPOINTS})"
    )
    parser.add_argument(
        "--observers",
        type=int,
        default=DEMO_OBSERVERS,
        help=f"simulated observers that take the study once the site answers (default {DEMO_OBSERVERS}; 0: none)",
    )
    parser.add_argument("--items", type=int, default=40, help="images per annotator (default 40)")
    parser.add_argument("--judgments", type=int, default=3, help="judgments wanted per image (default 3)")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the pools (default 600)")
    parser.add_argument("--host", default="127.0.0.1:8000", help="where the site is served")


def site_address(options: dict[str, Any]) -> str:
    return options["host"] if "://" in options["host"] else f"http://{options['host']}"


def ensure_study(command: BaseCommand, options: dict[str, Any], run_id: int | None = None) -> Study:
    """Open the demo study (or find the open one) and print its links; errors become ``CommandError``."""
    base = site_address(options)
    study = demo.open_demo_study()
    try:
        if study is None or options.get("again"):
            study = demo.create_demo_study(
                demo.finished_demo_run(run_id),
                size=options["size"],
                items=options["items"],
                judgments=options["judgments"],
                checkpoints=options["checkpoints"],
                wait=options["wait"],
                echo=command.stdout.write,
            )
        else:
            command.stdout.write(f"demo study #{study.pk} is already open (--again opens a new one)")
    except (StudyError, actions.RunError) as exc:
        raise CommandError(str(exc)) from None
    command.stdout.write("\n".join(demo.study_lines(study, base)))
    return study


def simulate_observers(command: BaseCommand, study: Study, options: dict[str, Any]) -> None:
    """The demo's simulated observers, unless the study has had some already (a second demo adds none)."""
    if not options["observers"]:
        return
    if Annotator.objects.filter(study=study, simulated=True).exists():
        command.stdout.write(f"study #{study.pk} has simulated observers already")
    else:
        try:
            line = demo.simulate_demo_observers(study, base_url=site_address(options), observers=options["observers"])
        except (DriverError, OSError, ValueError) as exc:
            command.stderr.write(f"simulated observers stopped: {exc}")
            return
        command.stdout.write(line)
    for text in demo.correlation_lines(study):
        command.stdout.write(text)
    command.stdout.write(
        f"results of the simulated observers: {site_address(options)}{study.get_absolute_url()}?simulated=only"
    )


class Command(BaseCommand):
    help = "Open a study mixing the demo run's samples with real images, and print its links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, help="training run id (default: the newest finished demo run)")
        parser.add_argument("--again", action="store_true", help="open a new study even if a demo study is open")
        add_study_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        study = ensure_study(self, options, options["run"])
        # Observers answer over HTTP: only when the site is served at --host (manage.py demo serves it itself).
        simulate_observers(self, study, options)
