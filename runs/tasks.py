"""Celery tasks: ids in, the outcome logged. Results go to the database, not the backend.

Each body wires the worker's steps (worker.py: claim, record, finish, fail) to the engine's calls, and is the
only place the web app imports gan_engine's torch modules, inside the body and only once the work is claimed:
the worker's parent process never loads torch, so a prefork child initialises CUDA itself, never inheriting it
from a forked parent, and a duplicate delivery costs no import at all. Training (runs and domain classifiers)
goes to the ``gpu`` queue, everything else to ``cpu`` (CELERY_TASK_ROUTES in settings).

Retry policy, the same for every task: errors of the database connection or of the artifact store (it did not
answer through its retries) retry with exponential backoff (a run's lease is released first, so the retry resumes
at once from the newest checkpoint); an engine error fails the run or job with its message and is not retried; a
lost worker leaves its unacknowledged message to be delivered again (acks_late, reject_on_worker_lost), and the
recovery sweep re-queues runs whose message was lost."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task, shared_task

from runs import worker
from runs.artifact_store import download
from runs.models import DomainClassifier, ImagePool, PoolScore

log = logging.getLogger(__name__)

RETRY_POLICY = {
    "autoretry_for": worker.TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


def _worker_name(task: Task) -> str:
    # Process id included: a lease held by this very process is one it left behind.
    return f"{task.request.hostname or 'local'} pid {os.getpid()}"


def _outcome(what: str, outcome: str) -> str:
    log.info("%s: %s", what, outcome)
    return outcome


@shared_task(name="runs.train_run", bind=True, **RETRY_POLICY)
def train_run(self: Task, run_id: int) -> str:
    """Claim the run, train it (resuming from its newest checkpoint), and record how it ended."""
    claim = worker.claim_run(run_id, worker=_worker_name(self))
    if claim is None:
        return _outcome(f"run {run_id}", "skipped")
    try:
        # The lease is renewed from the claim on: importing torch and initialising CUDA may take longer than
        # RUN_LEASE_SECONDS, and a lease that lapses then hands the run to a second worker.
        with worker.Lease(claim) as lease:
            from gan_engine.config import config_from_dict
            from gan_engine.training.checkpoint import latest_checkpoint
            from gan_engine.training.loop import resolve_device, train

            config = config_from_dict(claim.config)
            worker.fetch_run(claim, config.run.keep_checkpoints)
            resume = latest_checkpoint(claim.run_dir)
            worker.begin_training(claim, resume=resume, device=str(resolve_device(config.run.device)))
            result = train(
                config,
                claim.run_dir,
                on_progress=lambda progress: worker.record_progress(claim, progress),
                should_stop=lease.should_stop,
                resume=resume,
            )
    except worker.LeaseLost:
        log.warning("run %s: lease lost to another worker; this attempt stops without writing", run_id)
        return _outcome(f"run {run_id}", "lease lost")
    except worker.TRANSIENT_ERRORS:
        worker.release_run(claim)
        raise
    except Exception as exc:
        worker.fail_run(claim, exc)
        return _outcome(f"run {run_id}", "failed")
    return _outcome(f"run {run_id}", worker.finish_run(claim, result))


@shared_task(name="runs.sample_pool", **RETRY_POLICY)
def sample_pool(pool_id: int) -> str:
    pool = worker.claim_job(ImagePool, pool_id)
    if pool is None:
        return _outcome(f"pool {pool_id}", "skipped")
    try:
        checkpoint = worker.checkpoint_to_sample(pool)
        from gan_engine.pool_tensors import write_pool
        from gan_engine.sampling import generate, load_generator
        from gan_engine.training.loop import resolve_device

        loaded = load_generator(download(checkpoint.file), str(resolve_device("auto")))
        images = generate(loaded, pool.size, seed=pool.seed)
        source = worker.generated_source(pool, loaded.config)
        seeds = list(range(pool.seed, pool.seed + pool.size))
        worker.write_pool_folder(pool, lambda out: write_pool(images, out, source=source, seeds=seeds))
    except worker.TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _outcome(f"pool {pool_id}", worker.fail_job(pool, exc))
    return _outcome(f"pool {pool_id}", worker.finish_pool(pool))


@shared_task(name="runs.draw_real_pool", **RETRY_POLICY)
def draw_real_pool(pool_id: int) -> str:
    pool = worker.claim_job(ImagePool, pool_id)
    if pool is None:
        return _outcome(f"pool {pool_id}", "skipped")
    try:
        from gan_engine.config import DataConfig
        from gan_engine.data import load_dataset
        from gan_engine.pool_tensors import write_pool

        images = load_dataset(DataConfig(dataset=pool.dataset, image_size=pool.image_size), pool.split).images
        indices = worker.draw_indices(pool, len(images))
        source = {"dataset": pool.dataset, "split": pool.split, "seed": pool.seed, "image_size": pool.image_size}
        worker.write_pool_folder(
            pool, lambda out: write_pool(images[indices], out, source=source, kind="real", indices=indices)
        )
    except worker.TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _outcome(f"pool {pool_id}", worker.fail_job(pool, exc))
    return _outcome(f"pool {pool_id}", worker.finish_pool(pool))


@shared_task(name="runs.score_pool", **RETRY_POLICY)
def score_pool(score_id: int) -> str:
    """IS of the pool's images, FID/KID against its dataset's real images when asked, and, for a generated pool,
    the C2ST against held-out real images."""
    score = worker.claim_job(PoolScore, score_id)
    if score is None:
        return _outcome(f"score {score_id}", "skipped")
    try:
        pool = worker.pool_to_score(score)
        from gan_engine.metrics import domain_scorer
        from gan_engine.metrics.real_stats import real_statistics
        from gan_engine.metrics.scorers import SCORERS, load_scorer
        from gan_engine.metrics.scoring import score_images
        from gan_engine.pool_tensors import read_pool
        from gan_engine.pools import record_scores
        from gan_engine.training.loop import resolve_device

        folder = worker.fetch_pool(pool)
        images, _ = read_pool(folder)
        if score.scorer in SCORERS and SCORERS.get(score.scorer).kind == "domain":
            worker.fetch_scorer(*domain_scorer.paths(score.scorer))
        network = load_scorer(score.scorer, str(resolve_device("auto")))
        real = None
        if score.fid:
            # A domain scorer's FID compares with the dataset it was trained on.
            dataset = SCORERS.get(score.scorer).dataset or pool.dataset
            real = real_statistics(network, dataset, score.real_split, score.real_n)
        record = score_images(images, network, real=real)
        if pool.kind == ImagePool.Kind.GENERATED:
            record.update(_two_sample_test(images, pool))
        record_scores(folder, record)
        worker.store_manifest(pool)
    except worker.TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _outcome(f"score {score_id}", worker.fail_job(score, exc))
    return _outcome(f"score {score_id}", worker.finish_score(score, record))


def _two_sample_test(images: Any, pool: ImagePool) -> dict[str, Any]:
    """The pool's C2ST against held-out real images, or why it could not run: the IS and FID stand without it."""
    import torch

    from gan_engine.config import DataConfig
    from gan_engine.data import load_dataset
    from gan_engine.metrics.c2st import c2st
    from gan_engine.training.loop import resolve_device

    try:
        # Real images of the test split, which the generator never trained on, at the pool's own size.
        real = load_dataset(DataConfig(dataset=pool.dataset, image_size=images.shape[-1]), "test").images
        chosen = torch.randperm(len(real), generator=torch.Generator().manual_seed(pool.seed))[: len(images)]
        return c2st(real[chosen], images, seed=pool.seed, device=str(resolve_device("auto")))
    except worker.TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        log.warning("%s: C2ST failed: %s", pool, exc)
        return {"c2st_error": f"{type(exc).__name__}: {exc}"}


@shared_task(name="runs.train_domain_classifier", **RETRY_POLICY)
def train_domain_classifier(classifier_id: int) -> str:
    classifier = worker.claim_job(DomainClassifier, classifier_id)
    if classifier is None:
        return _outcome(f"domain classifier {classifier_id}", "skipped")
    try:
        from gan_engine.metrics.domain_scorer import paths, train

        meta = train(
            classifier.dataset, epochs=classifier.epochs, min_accuracy=classifier.min_accuracy, limit=classifier.limit
        )
        worker.store_scorer(*paths(meta["name"]))
    except worker.TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _outcome(f"domain classifier {classifier_id}", worker.fail_job(classifier, exc))
    return _outcome(f"domain classifier {classifier_id}", worker.finish_classifier(classifier, meta))


@shared_task(name="runs.recover_stale_runs", **RETRY_POLICY)
def recover_stale_runs() -> int:
    from runs import actions  # actions imports this module to send its tasks

    count = actions.recover_stale_runs()
    if count:
        log.warning("recovered %d runs whose workers stopped renewing their leases", count)
    return count
