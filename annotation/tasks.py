"""Celery tasks of human studies: a pilot of simulated observers, on the cpu queue."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="annotation.pilot_simulated_observers", queue="cpu")
def pilot_simulated_observers(
    study_id: int, observers: int, seed: int, base_url: str, params: dict[str, Any]
) -> dict[str, Any]:
    from annotation.simulation.driver import run_pilot

    report = run_pilot(study_id, observers=observers, seed=seed, base_url=base_url, params=params)
    return {"finished": report.finished, "judgments": report.judgments, "full": report.full}
