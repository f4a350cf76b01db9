"""Celery tasks: ids in, one service call, the outcome logged. Results go to the database, not the backend.

Training (runs and domain classifiers) goes to the ``gpu`` queue, everything else to ``cpu``
(CELERY_TASK_ROUTES in settings). Task bodies are the only place the web app imports gan_engine's torch
modules, and only once a service has claimed the work: the worker's parent process never loads torch,
so a prefork child initialises CUDA itself, never inheriting it from a forked parent, and a duplicate
delivery costs no import at all.

Retry policy, the same for every task: errors of the database connection retry with exponential backoff
(a run's lease is released first, so the retry resumes at once from the newest checkpoint); an engine
error fails the run or job with its message and is not retried; a lost worker leaves its unacknowledged
message to be delivered again (acks_late, reject_on_worker_lost), and the recovery sweep re-queues runs
whose message was lost."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task

from runs import services

log = logging.getLogger(__name__)

RETRY_POLICY = {
    "autoretry_for": services.TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


def _worker(task: Task) -> str:
    # Process id included: a lease held by this very process is one it left behind.
    return f"{task.request.hostname or 'local'} pid {os.getpid()}"


@shared_task(name="runs.train_run", bind=True, **RETRY_POLICY)
def train_run(self: Task, run_id: int) -> str:
    def load_engine() -> services.TrainingEngine:
        # Called once the run is claimed: a duplicate delivery never loads torch.
        from gan_engine.training.checkpoint import latest_checkpoint
        from gan_engine.training.loop import resolve_device, train

        return services.TrainingEngine(train=train, latest_checkpoint=latest_checkpoint, resolve_device=resolve_device)

    outcome = services.execute_run(run_id, worker=_worker(self), load_engine=load_engine)
    log.info("run %s: %s", run_id, outcome)
    return outcome


@shared_task(name="runs.sample_pool", **RETRY_POLICY)
def sample_pool(pool_id: int) -> str:
    def load_engine() -> services.SamplingEngine:
        from gan_engine.pool_tensors import write_pool
        from gan_engine.sampling import generate, load_generator
        from gan_engine.training.loop import resolve_device

        return services.SamplingEngine(load_generator, generate, write_pool, resolve_device)

    outcome = services.execute_sample_pool(pool_id, load_engine=load_engine)
    log.info("pool %s: %s", pool_id, outcome)
    return outcome


@shared_task(name="runs.draw_real_pool", **RETRY_POLICY)
def draw_real_pool(pool_id: int) -> str:
    def load_engine() -> services.RealPoolEngine:
        from gan_engine.config import DataConfig
        from gan_engine.data import load_dataset
        from gan_engine.pool_tensors import write_pool

        def load_split(dataset: str, split: str, image_size: int | None) -> Any:
            return load_dataset(DataConfig(dataset=dataset, image_size=image_size), split).images

        return services.RealPoolEngine(load_split, write_pool)

    outcome = services.execute_real_pool(pool_id, load_engine=load_engine)
    log.info("pool %s: %s", pool_id, outcome)
    return outcome


@shared_task(name="runs.score_pool", **RETRY_POLICY)
def score_pool(score_id: int) -> str:
    def load_engine() -> services.ScoringEngine:
        import torch

        from gan_engine.config import DataConfig
        from gan_engine.data import load_dataset
        from gan_engine.metrics.c2st import c2st
        from gan_engine.metrics.real_stats import real_statistics
        from gan_engine.metrics.scorers import load_scorer
        from gan_engine.metrics.scoring import score_images
        from gan_engine.pool_tensors import read_pool
        from gan_engine.pools import record_scores
        from gan_engine.training.loop import resolve_device

        def two_sample_test(images: Any, dataset: str, *, seed: int, device: str) -> dict[str, Any]:
            # Real images of the test split, which the generator never trained on, at the pool's own size.
            real = load_dataset(DataConfig(dataset=dataset, image_size=images.shape[-1]), "test").images
            chosen = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[: len(images)]
            return c2st(real[chosen], images, seed=seed, device=device)

        return services.ScoringEngine(
            load_scorer, read_pool, real_statistics, score_images, record_scores, resolve_device, two_sample_test
        )

    outcome = services.execute_score_pool(score_id, load_engine=load_engine)
    log.info("score %s: %s", score_id, outcome)
    return outcome


@shared_task(name="runs.train_domain_classifier", **RETRY_POLICY)
def train_domain_classifier(classifier_id: int) -> str:
    def load_engine() -> Callable[..., dict[str, Any]]:
        from gan_engine.metrics.domain_scorer import train

        return train

    outcome = services.execute_domain_classifier(classifier_id, load_engine=load_engine)
    log.info("domain classifier %s: %s", classifier_id, outcome)
    return outcome


@shared_task(name="runs.recover_stale_runs", **RETRY_POLICY)
def recover_stale_runs() -> int:
    count = services.recover_stale_runs()
    if count:
        log.warning("recovered %d runs whose workers stopped renewing their leases", count)
    return count


@shared_task(name="runs.finish_sweep", **RETRY_POLICY)
def finish_sweep(study_id: int, score_ids: list[int], open_study: bool) -> str:
    from runs import sweeps  # sweeps imports this module

    outcome = sweeps.finish_sweep(study_id, score_ids, open_study)
    log.info("sweep of study %s: %s", study_id, outcome)
    return outcome
