"""``manage.py sweep RUN [RUN...]``: sample N checkpoints of each run, score every pool, and make a study that mixes
them with real images (annotation/sweeps.py). A worker on the cpu queue does the work; this command queues it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import sweeps
from runs import planning
from runs.actions import RunError
from runs.models import TrainingRun


class Command(BaseCommand):
    help = "Queue a checkpoint sweep of runs: pools of N checkpoints, scored, and a study mixing them with real images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("runs", nargs="+", type=int, metavar="RUN", help="run ids (one dataset)")
        parser.add_argument("--checkpoints", type=int, default=4, help="checkpoints per run, evenly spaced (default 4)")
        parser.add_argument("--steps", type=int, nargs="+", help="these checkpoint steps instead of evenly spaced ones")
        parser.add_argument("--pool-size", type=int, default=100, help="images per pool (default 100)")
        parser.add_argument("--scorer", help="scoring network (default: the first that can run now)")
        parser.add_argument("--top-k", type=float, help="show only the top K%% of each pool by Inception Score")
        parser.add_argument("--open", action="store_true", help="open the study once every pool is scored")
        parser.add_argument("--name", default="", help="the study's name (default: says which runs)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the pools (image i from seed + i)")

    def handle(self, *args: Any, **options: Any) -> None:
        found = {run.pk: run for run in TrainingRun.objects.filter(pk__in=options["runs"])}
        missing = [str(pk) for pk in options["runs"] if pk not in found]
        if missing:
            raise CommandError(f"RUN: no run #{', #'.join(missing)}")
        runs = [found[pk] for pk in dict.fromkeys(options["runs"])]
        scorer = options["scorer"] or _ready_scorer(runs[0].dataset)
        try:
            study = sweeps.create_sweep(
                runs,
                checkpoints=options["checkpoints"],
                steps=options["steps"],
                pool_size=options["pool_size"],
                scorer=scorer,
                top_percent=options["top_k"],
                open_study=options["open"],
                name=options["name"],
                seed=options["seed"],
            )
        except RunError as exc:
            raise CommandError(str(exc)) from None
        pools = study.study_pools.count() - 1
        self.stdout.write(
            f"study #{study.pk} ({study.name}): {pools} generated pools of {options['pool_size']} images and a real "
            f"one queued, scored by {scorer}; the study "
            + ("opens once every pool is scored" if options["open"] else "stays a draft to open")
        )


def _ready_scorer(dataset: str) -> str:
    ready = [option.name for option in planning.sweep_scorers(dataset) if option.ready]
    if not ready:
        raise CommandError(
            f"--scorer: no scorer can run now; train the {dataset} classifier "
            f"(python -m gan_engine train-scorer --dataset {dataset}) or fetch Inception's weights"
        )
    return ready[0]
