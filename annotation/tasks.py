"""Celery tasks of human studies: a pilot of simulated observers, on the cpu queue (the default queue)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# Not acknowledged late and never retried: a pilot run twice would bring twice the observers into the study.
@shared_task(name="annotation.pilot_simulated_observers", acks_late=False)
def pilot_simulated_observers(
    study_id: int, observers: int, seed: int, base_url: str, params: dict[str, Any]
) -> dict[str, Any]:
    from annotation.simulation.driver import run_pilot

    report = run_pilot(study_id, observers=observers, seed=seed, base_url=base_url, params=params)
    return {"finished": report.finished, "judgments": report.judgments, "full": report.full}
