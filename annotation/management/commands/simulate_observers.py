"""Fill a study with simulated observers through the real annotator flow over HTTP (annotation.simulation)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import Study
from annotation.simulation.driver import DriverError, run_pilot


def _pool_d_prime(value: str) -> tuple[int, float]:
    pool, _, d = value.partition("=")
    try:
        return int(pool), float(d)
    except ValueError:
        raise CommandError(f"--pool-d-prime: expected POOL_ID=D, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Take N simulated observers through STUDY's annotator flow (invitation link, consent, items, feedback, "
        "finish) over HTTP against a running site; their judgments are marked simulated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="the study's id or public id")
        parser.add_argument("--n", type=int, default=10, help="observers (default 10)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--base-url",
            default=settings.ANNOTATION_SIMULATION_BASE_URL,
            help="the site's address (default: the ANNOTATION_SIMULATION_BASE_URL setting)",
        )
        parser.add_argument("--d-prime", type=float, default=1.0, help="d′ of pools not named by --pool-d-prime")
        parser.add_argument("--pool-d-prime", type=_pool_d_prime, action="append", default=[], metavar="POOL=D")
        parser.add_argument("--criterion", type=float, default=0.0)
        parser.add_argument("--lapse", type=float, default=0.0)
        parser.add_argument("--d-prime-sd", type=float, default=0.0, help="between observers")
        parser.add_argument("--criterion-sd", type=float, default=0.0, help="between observers")
        parser.add_argument("--image-sd", type=float, default=0.0, help="between images")
        parser.add_argument("--score-slope", type=float, default=0.0, help="d′ per unit of an image's IS share")
        parser.add_argument("--learning-gain", type=float, default=0.0, help="d′ gained from feedback")
        parser.add_argument("--threshold-ms", type=float, default=None, help="HYPE-time: 75%% right at this exposure")

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["study"]
        study = Study.objects.filter(public_id=key).first() or (
            Study.objects.filter(pk=int(key)).first() if key.isdigit() else None
        )
        if study is None:
            raise CommandError(f"study: no study with id or public id {key!r}")
        if not options["base_url"]:
            raise CommandError("--base-url: the site's address is needed (or set ANNOTATION_SIMULATION_BASE_URL)")
        params = {
            "d_prime": dict(options["pool_d_prime"]),
            "default_d_prime": options["d_prime"],
            **{
                name: options[name]
                for name in (
                    "criterion", "lapse", "d_prime_sd", "criterion_sd", "image_sd", "score_slope",
                    "learning_gain", "threshold_ms",
                )
            },
        }  # fmt: skip
        try:
            report = run_pilot(
                study.pk, observers=options["n"], seed=options["seed"], base_url=options["base_url"], params=params
            )
        except (DriverError, ValueError) as error:
            raise CommandError(str(error)) from None
        full = " (the study is full)" if report.full else ""
        self.stdout.write(
            f"{report.finished} simulated observers finished study {study.pk}, {report.judgments} judgments{full}"
        )
