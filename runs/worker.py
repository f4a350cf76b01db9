"""The worker's side of the research records: the lease protocol of a training run, and the claim, finish
and fail steps of pool, score and domain-classifier jobs. Celery task bodies (tasks.py) call these around the
engine's calls; nothing here imports torch.

Idempotency lives on the run's row. A worker claims a run under a row lock, which bumps ``attempt`` and
issues a lease token; only the holder of the token may write progress, and the holder renews the lease
every RUN_HEARTBEAT_SECONDS (``Lease``). A second delivery of the task while the lease is live (Redis re-delivers
anything unacknowledged after its visibility timeout, even to a live worker) finds the lease held and
does nothing. A delivery after the lease lapsed (the worker was killed) takes the run over and resumes
from its newest checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import Error, InterfaceError, OperationalError, connections, transaction
from django.utils import timezone

from gan_engine import run_folder
from gan_engine.pools import MANIFEST
from runs.artifact_store import StoreError, StoreUnavailable, artifact_store, relative_path, upload
from runs.models import (
    LEASED_STATUSES,
    Checkpoint,
    DomainClassifier,
    ImagePool,
    JobStatus,
    MetricKind,
    MetricPoint,
    PoolScore,
    RunEvent,
    RunStatus,
    TrainingRun,
)
from runs.numbers import metric

log = logging.getLogger(__name__)

# Domain classifiers in the store (with ARTIFACTS_STORE=s3): trained on one host, scoring pools on any.
SCORERS_FOLDER = "scorers"

# Errors of the database connection or of the artifact store rather than of the run: the task retries them.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, StoreUnavailable)


class LeaseLost(Exception):
    """Another worker took the run over (this one was presumed dead): stop without writing anything."""


class JobError(Exception):
    """A pool, score or classifier job that cannot be done; its message is stored on the job's row."""


def log_event(run_id: int, message: str, level: str = RunEvent.Level.INFO) -> None:
    RunEvent.objects.create(run_id=run_id, message=message, level=level)


def lock_run(run_id: int) -> TrainingRun:
    return TrainingRun.objects.select_for_update().get(pk=run_id)


def end_run(run: TrainingRun, status: str, now: Any) -> None:
    """Store the run's final status and release its lease."""
    run.status = status
    run.lease_token = run.heartbeat_at = None
    run.eta_seconds = None
    run.finished_at = now
    run.save()


# --- Training runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    run_id: int
    token: uuid.UUID
    worker: str
    attempt: int
    config: dict[str, Any]
    run_dir: Path
    # The run folder's files this attempt has stored once and for all (config.json, labelled.json).
    uploaded: set[str] = field(default_factory=set, compare=False, repr=False)


def claim_run(run_id: int, *, worker: str) -> Claim | None:
    """Take the run for this worker under a row lock, or return None when there is nothing to do: it is
    finished, cancelled, or trained right now by a live worker (a duplicate delivery)."""
    now = timezone.now()
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            log.warning("run %s does not exist (deleted?); nothing to train", run_id)
            return None
        if run.status in LEASED_STATUSES:
            # A process trains one run at a time, so a lease in this process's own name is left over
            # from an attempt that ended without releasing it: as good as expired.
            if run.worker_host != worker and not run.lease_expired(now):
                log_event(
                    run.pk, f"delivery to {worker} ignored: {run.worker_host} is training it (attempt {run.attempt})"
                )
                return None
            if run.status == RunStatus.CANCELLING:
                end_run(run, RunStatus.CANCELLED, now)
                log_event(run.pk, f"cancelled: {run.worker_host} was lost before it could stop")
                return None
        elif run.status != RunStatus.QUEUED:
            log.info("run %s is %s; nothing to train", run_id, run.status)
            return None
        if run.attempt >= run.attempt_limit:
            run.error = (
                f"gave up after {run.attempt} attempts, each ended by its worker's loss; "
                "resume it once the cause (memory? a bad machine?) is fixed"
            )
            end_run(run, RunStatus.FAILED, now)
            log_event(run.pk, run.error, RunEvent.Level.ERROR)
            return None
        run.status = RunStatus.RUNNING
        run.attempt += 1
        run.lease_token = uuid.uuid4()
        run.worker_host = worker
        run.heartbeat_at = now
        run.started_at = run.started_at or now
        run.save()
        log_event(run.pk, f"attempt {run.attempt} claimed by {worker}")
        return Claim(run.pk, run.lease_token, worker, run.attempt, run.config, run.run_dir)


def fetch_run(claim: Claim, keep: int) -> None:
    """Make this host's run folder hold the run's ``keep`` newest stored checkpoints and its stored metrics, so that
    a run resumes on any host from the newest checkpoint the store holds. A local checkpoint the store lacks (its
    upload was cut short) is removed: the store decides where the run resumes. With the local store the folder is
    the store, and nothing moves."""
    store = artifact_store()
    folder = relative_path(claim.run_dir)
    names = store.list(f"{folder}/{run_folder.CHECKPOINTS_DIR}")
    kept = [name for name in names if run_folder.checkpoint_step(name) is not None][-keep:]
    for name in kept:
        local = claim.run_dir / name[len(folder) + 1 :]
        if not local.is_file():
            store.get(name, local)
    stored = {Path(name).name for name in names}
    for local in run_folder.list_checkpoints(claim.run_dir):
        if local.name not in stored:
            local.unlink()
    with contextlib.suppress(FileNotFoundError):  # none stored yet: no checkpoint either, the run starts at 0
        store.get(f"{folder}/{run_folder.METRICS_FILE}", run_folder.metrics_path(claim.run_dir))


def _store_files(claim: Claim, *paths: str | Path | None) -> None:
    """Upload the run folder's new files, with its metrics and, once an attempt, its config and labelled subset:
    before their rows are recorded, so that the database never names a file the store lacks. Only while the lease
    is this worker's: a worker presumed dead must not replace the files of the one that took the run over."""
    if not TrainingRun.objects.filter(pk=claim.run_id, lease_token=claim.token).exists():
        raise LeaseLost
    for path in paths:
        if path:
            upload(Path(path))
    for name in (run_folder.CONFIG_FILE, run_folder.LABELLED_FILE):
        path = claim.run_dir / name
        if name not in claim.uploaded and path.is_file():
            upload(path)
            claim.uploaded.add(name)
    metrics = run_folder.metrics_path(claim.run_dir)
    if metrics.is_file():
        upload(metrics)


def begin_training(claim: Claim, *, resume: Path | None, device: str) -> None:
    """Record where this attempt starts, and forget what an interrupted attempt logged past that point."""
    step = (run_folder.checkpoint_step(resume) or 0) if resume is not None else 0
    with transaction.atomic():
        run = lock_run(claim.run_id)
        if run.lease_token != claim.token:
            raise LeaseLost
        run.device = device
        run.step = step
        run.resumed_from_step = step if resume is not None else None
        if resume is None:
            run.sample_grid, run.sample_step = "", None
            run_folder.metrics_path(claim.run_dir).unlink(missing_ok=True)
        run.save()
        trained = MetricPoint.objects.filter(run=run, kind__in=[MetricKind.LOSS, MetricKind.EVAL], step__gt=step)
        trained.delete()
        run.checkpoints.filter(step__gt=step).delete()
        if resume is None:
            log_event(run.pk, f"training from step 0 on {device}")
        else:
            log_event(run.pk, f"resuming from the checkpoint of step {step} ({relative_path(resume)}) on {device}")


def record_progress(claim: Claim, progress: Any) -> None:
    """Store one progress report of the loop: the run's counters, its metric points, a new checkpoint."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "step": progress.step,
        "epoch": progress.epoch,
        "images_per_sec": progress.images_per_sec,
        "eta_seconds": progress.eta_seconds,
        "heartbeat_at": now,
        "updated_at": now,
    }
    if progress.sample_grid:
        fields.update(sample_grid=relative_path(progress.sample_grid), sample_step=progress.step)
    points = [
        MetricPoint(run_id=claim.run_id, name=name, kind=kind, step=progress.step, value=float(value))
        for kind, values in ((MetricKind.LOSS, progress.losses), (MetricKind.EVAL, progress.metrics))
        for name, value in values.items()
    ]
    if progress.checkpoint or progress.sample_grid:
        _store_files(claim, progress.checkpoint, progress.sample_grid)
    with transaction.atomic():
        if not TrainingRun.objects.filter(pk=claim.run_id, lease_token=claim.token).update(**fields):
            raise LeaseLost
        _upsert_points(points)
        if progress.checkpoint:
            _record_checkpoint(claim.run_id, progress.step, progress.checkpoint)
        if progress.metrics:
            values = ", ".join(f"{name} {metric(name, value)}" for name, value in progress.metrics.items())
            log_event(claim.run_id, f"step {progress.step}: {values}")


def finish_run(claim: Claim, result: Any) -> str:
    """Mark the run done, or cancelled when the loop stopped because it was asked to."""
    lost = "run %s: finished, but another worker holds it now; leaving it to that one"
    try:
        _store_files(claim, result.checkpoint)
    except LeaseLost:
        log.warning(lost, claim.run_id)
        return "lease lost"
    with transaction.atomic():
        run = lock_run(claim.run_id)
        if run.lease_token != claim.token:
            log.warning(lost, run.pk)
            return "lease lost"
        _record_checkpoint(run.pk, result.step, result.checkpoint)
        run.step = result.step
        status = RunStatus.DONE if result.status == "done" else RunStatus.CANCELLED
        end_run(run, status, timezone.now())
        log_event(run.pk, f"{status} at step {result.step}; checkpoint {relative_path(result.checkpoint)}")
    return status


def fail_run(claim: Claim, exc: BaseException) -> None:
    """Store the error and mark the run failed; ``resume_run`` continues it from its newest checkpoint."""
    with transaction.atomic():
        run = lock_run(claim.run_id)
        if run.lease_token != claim.token:
            log.warning("run %s: attempt %s failed after losing its lease: %s", run.pk, claim.attempt, exc)
            return
        run.error = f"{type(exc).__name__}: {exc}"
        end_run(run, RunStatus.FAILED, timezone.now())
        trace = "".join(traceback.format_exception(exc))
        log_event(run.pk, f"failed on {claim.worker}: {trace[-4000:]}", RunEvent.Level.ERROR)


def release_run(claim: Claim) -> None:
    """Let the lease lapse now, so that a retry of the task may claim the run without waiting it out."""
    try:
        TrainingRun.objects.filter(pk=claim.run_id, lease_token=claim.token).update(heartbeat_at=None)
    except Error:
        log.warning("run %s: could not release the lease; it lapses after RUN_LEASE_SECONDS", claim.run_id)


def renew_lease(claim: Claim) -> str | None:
    """Move the heartbeat; return the run's status, or None when the lease is no longer this worker's."""
    if not TrainingRun.objects.filter(pk=claim.run_id, lease_token=claim.token).update(heartbeat_at=timezone.now()):
        return None
    return TrainingRun.objects.filter(pk=claim.run_id).values_list("status", flat=True).first()


class Lease:
    """Renews the claim from a thread of its own, so that the lease stays live while the task body loads the
    engine (torch, CUDA) and while the engine loads data or evaluates (no progress reports then); the loop reads
    its flags every step at no cost."""

    def __init__(self, claim: Claim):
        self.claim = claim
        self.cancel_requested = False
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-run-{claim.run_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._done.wait(settings.RUN_HEARTBEAT_SECONDS):
                try:
                    status = renew_lease(self.claim)
                except Error as exc:
                    # The lease survives a blip shorter than RUN_LEASE_SECONDS; keep trying.
                    log.warning("run %s: heartbeat failed: %s", self.claim.run_id, exc)
                    continue
                if status is None:
                    self.lost = True
                    return
                self.cancel_requested = status == RunStatus.CANCELLING
        finally:
            connections.close_all()  # this thread's own connections

    def should_stop(self) -> bool:
        if self.lost:
            raise LeaseLost
        return self.cancel_requested


def _upsert_points(points: Iterable[MetricPoint]) -> None:
    MetricPoint.objects.bulk_create(
        list(points),
        update_conflicts=True,
        unique_fields=["run", "name", "step"],
        update_fields=["value", "std", "kind"],
    )


def _record_checkpoint(run_id: int, step: int, path: str | Path) -> None:
    Checkpoint.objects.update_or_create(
        run_id=run_id, step=step, defaults={"path": relative_path(path), "pruned": False}
    )
    # The engine has just deleted the periodic checkpoints beyond run.keep_checkpoints.
    gone = [c for c in Checkpoint.objects.filter(run_id=run_id, pruned=False) if not c.file.exists()]
    if gone:
        Checkpoint.objects.filter(pk__in=[c.pk for c in gone]).update(pruned=True)
        # Out of the store once no row names them any more.
        transaction.on_commit(lambda: _delete_stored([c.path for c in gone]))


def _delete_stored(paths: list[str]) -> None:
    for path in paths:
        try:
            artifact_store().delete(path)
        except StoreError as exc:  # a file left behind costs room, not correctness
            log.warning("pruned checkpoint %s stays in the store: %s", path, exc)


# --- Pools, scores and domain classifiers -----------------------------------------------------------
# Short jobs: a delivery that finds its job queued or running (its worker lost) does it again from the
# start; each writes somewhere new and moves it into place, so a repeat never leaves half a result.


def claim_job(model: type[ImagePool | PoolScore | DomainClassifier], pk: int) -> Any:
    """Mark the job running, or return None when there is nothing to do: it is finished, failed or deleted."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None or job.status in (JobStatus.DONE, JobStatus.FAILED):
            return None
        job.status, job.error = JobStatus.RUNNING, ""
        job.save(update_fields=["status", "error"])
        return job


def fail_job(job: ImagePool | PoolScore | DomainClassifier, exc: BaseException) -> str:
    log.warning("%s failed: %s", job, exc)
    job.status, job.error, job.finished_at = JobStatus.FAILED, f"{type(exc).__name__}: {exc}", timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return "failed"


def checkpoint_to_sample(pool: ImagePool) -> Checkpoint:
    if pool.checkpoint is None:
        raise JobError(f"{pool}: its checkpoint was deleted")
    return pool.checkpoint


def generated_source(pool: ImagePool, config: Any) -> dict[str, Any]:
    """What a generated pool's manifest says it came from; ``config`` is the checkpoint's ``TrainConfig``."""
    return {
        "run": pool.run_id,
        "run_uid": str(pool.run.uid) if pool.run else None,
        "checkpoint": pool.checkpoint.path,
        "step": pool.step,
        "recipe": config.recipe,
        "dataset": pool.dataset,
        "batch_size": config.optim.batch_size,
    }


def draw_indices(pool: ImagePool, available: int) -> list[int]:
    """Which of the split's ``available`` images a real pool holds: ``pool.size`` distinct ones, drawn by its seed."""
    if pool.size > available:
        raise JobError(f"size: {pool.dataset} {pool.split} has {available} images, fewer than {pool.size}")
    return random.Random(pool.seed).sample(range(available), pool.size)


def write_pool_folder(pool: ImagePool, write: Callable[[Path], Any]) -> None:
    """Write into a folder of this delivery's own, then move it into place: a repeated delivery that
    finishes second discards its copy, and a half-written folder never carries the pool's name."""
    final = pool.folder
    staging = final.with_name(f"{final.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        write(staging)
        if final.exists():
            shutil.rmtree(staging)
        else:
            staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # Whole before the pool is marked written: no host sees a pool whose files are on their way.
    artifact_store().put_folder(relative_path(final), final)


def fetch_pool(pool: ImagePool) -> Path:
    """The pool's folder on this host, with its stored manifest (another host may have added scores to it)."""
    folder, store = pool.folder, artifact_store()
    if folder.is_dir():
        store.get(f"{relative_path(folder)}/{MANIFEST}", folder / MANIFEST)
    else:
        store.get_folder(relative_path(folder), folder)
    return folder


def store_manifest(pool: ImagePool) -> None:
    upload(pool.folder / MANIFEST)


def finish_pool(pool: ImagePool) -> str:
    pool.status, pool.path, pool.finished_at = JobStatus.DONE, pool.dir_name, timezone.now()
    pool.save(update_fields=["status", "path", "finished_at"])
    return "done"


def pool_to_score(score: PoolScore) -> ImagePool:
    pool = score.pool
    if pool.status != JobStatus.DONE:
        # A sweep's chain scores the pool its first task wrote; that task may have failed.
        raise JobError(f"{pool} is {pool.status}{': ' + pool.error if pool.error else ''}; nothing to score")
    return pool


def finish_score(score: PoolScore, record: dict[str, Any]) -> str:
    """Store the values pages show, and add the pool's IS, C2ST and FID to its run's series at the pool's step."""
    pool = score.pool
    # Per-image values stay in the pool's manifest; the row keeps what pages show.
    values = {key: value for key, value in record.items() if key not in ("image_kl", "is_per_split")}
    with transaction.atomic():
        score.status, score.values, score.finished_at = JobStatus.DONE, values, timezone.now()
        score.save(update_fields=["status", "values", "finished_at"])
        if pool.run_id is not None and pool.step is not None:
            points = [
                MetricPoint(
                    run_id=pool.run_id,
                    name=f"IS ({score.scorer})",
                    kind=MetricKind.SCORE,
                    step=pool.step,
                    value=values["is_mean"],
                    std=values["is_std"],
                )
            ]
            if "c2st_accuracy" in values:
                points.append(
                    MetricPoint(
                        run_id=pool.run_id,
                        name="C2ST accuracy",
                        kind=MetricKind.SCORE,
                        step=pool.step,
                        value=values["c2st_accuracy"],
                    )
                )
            if "fid" in values:
                points.append(
                    MetricPoint(
                        run_id=pool.run_id,
                        name=f"FID ({score.scorer})",
                        kind=MetricKind.SCORE,
                        step=pool.step,
                        value=values["fid"],
                    )
                )
            _upsert_points(points)
            log_event(pool.run_id, f"{pool} scored: {score.summary}")
    return "done"


def store_scorer(weights: Path, description: Path) -> None:
    """A trained domain classifier's weights and description, for the scoring workers of other hosts: before its row
    is marked done. The local store keeps no copy: its hosts share GAN_SCORER_DIR as they share ARTIFACTS_DIR (one
    machine, or a mount)."""
    if settings.ARTIFACTS_STORE == "local":
        return
    for path in (weights, description):
        artifact_store().put(f"{SCORERS_FOLDER}/{path.name}", path)


def fetch_scorer(weights: Path, description: Path) -> None:
    """The stored classifier of that name into this host's GAN_SCORER_DIR, unless the host holds that very one;
    nothing when none is stored (the host's own files, if any, serve as they did)."""
    if settings.ARTIFACTS_STORE == "local":
        return
    store = artifact_store()
    try:
        stored = store.read_bytes(f"{SCORERS_FOLDER}/{description.name}")
    except FileNotFoundError:
        return
    if weights.is_file() and description.is_file() and description.read_bytes() == stored:
        return
    store.get(f"{SCORERS_FOLDER}/{weights.name}", weights)
    store.get(f"{SCORERS_FOLDER}/{description.name}", description)  # last: it names the weights' hash


def finish_classifier(classifier: DomainClassifier, meta: dict[str, Any]) -> str:
    classifier.status, classifier.finished_at = JobStatus.DONE, timezone.now()
    classifier.test_accuracy, classifier.weights_sha256, classifier.meta = meta["test_accuracy"], meta["sha256"], meta
    classifier.save()
    return "done"
