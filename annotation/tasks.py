"""Celery tasks of human studies, on the cpu queue (the default queue): a pilot of simulated observers, and the end
of a checkpoint sweep's chains (annotation.sweeps)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from runs.tasks import RETRY_POLICY

log = logging.getLogger(__name__)


# Not acknowledged late and never retried: a pilot run twice would bring twice the observers into the study.
@shared_task(name="annotation.pilot_simulated_observers", acks_late=False)
def pilot_simulated_observers(
    study_id: int, observers: int, seed: int, base_url: str, params: dict[str, Any]
) -> dict[str, Any]:
    from annotation.simulation.driver import run_pilot

    report = run_pilot(study_id, observers=observers, seed=seed, base_url=base_url, params=params)
    return {"finished": report.finished, "judgments": report.judgments, "full": report.full}


# Its name is the one that queued chains carry: renaming it would strand them.
@shared_task(name="runs.finish_sweep", **RETRY_POLICY)
def finish_sweep(study_id: int, score_ids: list[int], open_study: bool) -> str:
    from annotation import sweeps  # sweeps imports this module to send its chains

    outcome = sweeps.finish_sweep(study_id, score_ids, open_study)
    log.info("sweep of study %s: %s", study_id, outcome)
    return outcome
