"""Every write of the research side, shared by views, admin actions, management commands and tasks.

Web-side verbs (create_run, edit_run, launch_run, cancel_run, resume_run, duplicate_run,
launch_ablation, sample_pool, draw_real_pool, score_pool, train_domain_classifier, recover_stale_runs)
change rows and queue work once their transaction commits. Worker-side functions (execute_run and the
claim/begin/record/finish/fail steps it is made of, execute_* of the pool jobs) are called by Celery
task bodies, which hand in the engine's torch functions: this module never imports torch.

Idempotency lives on the run's row. A worker claims a run under a row lock, which bumps ``attempt`` and
issues a lease token; only the holder of the token may write progress, and the holder renews the lease
every RUN_HEARTBEAT_SECONDS. A second delivery of the task while the lease is live (Redis re-delivers
anything unacknowledged after its visibility timeout, even to a live worker) finds the lease held and
does nothing. A delivery after the lease lapsed (the worker was killed) takes the run over and resumes
from its newest checkpoint.
"""

from __future__ import annotations

import functools
import logging
import random
import shutil
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import Error, InterfaceError, OperationalError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from gan_engine import run_folder
from runs import engine, planning
from runs.models import (
    LEASED_STATUSES,
    Ablation,
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

# Errors of the database connection rather than of the run: the task retries them.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


class ServiceError(Exception):
    """A request the current state does not allow; the message says what and why, for the researcher."""


class LeaseLost(Exception):
    """Another worker took the run over (this one was presumed dead): stop without writing anything."""


def _event(run_id: int, message: str, level: str = RunEvent.Level.INFO) -> None:
    RunEvent.objects.create(run_id=run_id, message=message, level=level)


def _locked(run_id: int) -> TrainingRun:
    return TrainingRun.objects.select_for_update().get(pk=run_id)


def _author(user: Any) -> Any:
    return user if user is not None and user.is_authenticated else None


def _who(user: Any) -> str:
    return f" by {user.get_username()}" if _author(user) else ""


def _relative(path: str | Path) -> str:
    return str(Path(path).resolve().relative_to(settings.ARTIFACTS_DIR))


def _queue(task: str, *args: Any) -> None:
    """Send the task once the surrounding transaction commits: a worker must find the rows it is sent."""
    from runs import tasks  # tasks imports this module

    transaction.on_commit(lambda: getattr(tasks, task).delay(*args))


# --- Web side: runs ---------------------------------------------------------------------------------


def create_run(
    config: Any,
    *,
    name: str,
    user: Any = None,
    notes: str = "",
    launch: bool = True,
    source_run: TrainingRun | None = None,
    ablation: Ablation | None = None,
    variant: str = "",
) -> TrainingRun:
    """Store a validated ``TrainConfig`` as a new run: a draft, or queued for a GPU worker when ``launch``."""
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=name,
            notes=notes,
            config=config.to_dict(),
            recipe=config.recipe,
            dataset=config.data.dataset,
            total_steps=config.optim.steps,
            created_by=_author(user),
            source_run=source_run,
            ablation=ablation,
            ablation_variant=variant,
        )
        _event(run.pk, f"created{_who(user)}" + (f" from run #{source_run.pk}" if source_run else ""))
        if launch:
            run = launch_run(run, user=user)
    return run


def edit_run(run: TrainingRun, *, name: str, notes: str, config: Any = None) -> TrainingRun:
    """Rename a run or change its notes; a draft's config may change too."""
    with transaction.atomic():
        run = _locked(run.pk)
        run.name, run.notes = name, notes
        fields = ["name", "notes", "updated_at"]
        if config is not None:
            if run.status != RunStatus.DRAFT:
                raise ServiceError(f"run #{run.pk} is {run.status}: only a draft's config can change")
            run.config, run.recipe, run.dataset = config.to_dict(), config.recipe, config.data.dataset
            run.total_steps = config.optim.steps
            fields += ["config", "recipe", "dataset", "total_steps"]
        run.save(update_fields=fields)
    return run


def launch_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """Queue a draft for training."""
    with transaction.atomic():
        run = _locked(run.pk)
        if run.status != RunStatus.DRAFT:
            raise ServiceError(f"run #{run.pk} is {run.status}: only a draft can be launched (resume a stopped run)")
        run.status = RunStatus.QUEUED
        run.queued_at = timezone.now()
        run.attempt_limit = run.attempt + settings.RUN_MAX_ATTEMPTS
        run.save(update_fields=["status", "queued_at", "attempt_limit", "updated_at"])
        _event(run.pk, f"queued{_who(user)}")
        _queue("train_run", run.pk)
    return run


def cancel_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """Stop a run. A queued run is cancelled at once; a training one is asked to stop, and its worker
    writes a checkpoint and marks it cancelled within RUN_HEARTBEAT_SECONDS and a step."""
    with transaction.atomic():
        run = _locked(run.pk)
        now = timezone.now()
        if run.status in LEASED_STATUSES and not run.lease_expired(now):
            if run.status == RunStatus.RUNNING:
                run.status = RunStatus.CANCELLING
                run.save(update_fields=["status", "updated_at"])
                _event(run.pk, f"cancellation requested{_who(user)}; {run.worker_host} stops at its next step")
            return run
        if run.status not in (RunStatus.DRAFT, RunStatus.QUEUED, *LEASED_STATUSES):
            raise ServiceError(f"run #{run.pk} is {run.status}: there is nothing to cancel")
        # No live worker holds it: a queued message that arrives later finds it cancelled.
        _end(run, RunStatus.CANCELLED, now)
        _event(run.pk, f"cancelled{_who(user)}")
    return run


def resume_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """Queue a failed, cancelled or stalled run again; it continues from its newest checkpoint."""
    with transaction.atomic():
        run = _locked(run.pk)
        now = timezone.now()
        stalled = run.status in LEASED_STATUSES and run.lease_expired(now)
        if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED) and not stalled:
            raise ServiceError(f"run #{run.pk} is {run.status}: only a failed, cancelled or stalled run can be resumed")
        run.status = RunStatus.QUEUED
        run.error = ""
        run.lease_token = run.heartbeat_at = run.finished_at = None
        run.queued_at = now
        run.attempt_limit = run.attempt + settings.RUN_MAX_ATTEMPTS
        run.save()
        _event(run.pk, f"resume requested{_who(user)}; training continues from the newest checkpoint")
        _queue("train_run", run.pk)
    return run


def duplicate_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """A draft with the same config (validated again), to edit and launch."""
    config = engine.config_from_dict(run.config)
    return create_run(config, name=f"{run.name} (copy)", notes=run.notes, user=user, launch=False, source_run=run)


def launch_ablation(run: TrainingRun, *, user: Any = None) -> Ablation:
    """The paper's ablation from one run's config: one queued run per variant (our methods, -VBN+BN,
    -L+HA, -LS, -L, -MBF), grouped for the comparison page. A variant equal to the base (its technique was
    already off) is dropped: it would train the base again. Raises ``ConfigError`` when a variant is not
    valid for the run's recipe; nothing is queued then."""
    plan = planning.plan_ablation(run)
    with transaction.atomic():
        ablation = Ablation.objects.create(
            name=f"ablation of {run.name}",
            base_run=run,
            created_by=_author(user),
        )
        for variant in plan.to_launch:
            create_run(
                variant.config,
                name=f"{run.name} [{variant.name}]",
                user=user,
                source_run=run,
                ablation=ablation,
                variant=variant.name,
            )
        dropped = ", ".join(v.name for v in plan.dropped)
        _event(
            run.pk,
            f"ablation grid launched{_who(user)}: {len(plan.to_launch)} runs"
            + (f"; {dropped} dropped, equal to this run's config" if dropped else ""),
        )
    return ablation


def recover_stale_runs() -> int:
    """Re-queue every run whose worker stopped renewing its lease (killed, or its message lost), and
    finish the cancellation of those that were being cancelled. Returns how many runs changed."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.RUN_LEASE_SECONDS)
    stale = TrainingRun.objects.filter(status__in=LEASED_STATUSES).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff)
    )
    changed = 0
    for run_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            run = _locked(run_id)
            if run.status not in LEASED_STATUSES or not run.lease_expired(now):
                continue
            if run.status == RunStatus.CANCELLING:
                _end(run, RunStatus.CANCELLED, now)
                _event(run.pk, f"cancelled: {run.worker_host} stopped renewing its lease before it could stop")
            else:
                worker = run.worker_host
                run.status = RunStatus.QUEUED
                run.lease_token = run.heartbeat_at = None
                run.queued_at = now
                run.save(update_fields=["status", "lease_token", "heartbeat_at", "queued_at", "updated_at"])
                _event(
                    run.pk,
                    f"{worker} stopped renewing its lease; queued again to resume from the newest checkpoint",
                    RunEvent.Level.WARNING,
                )
                _queue("train_run", run.pk)
            changed += 1
    return changed


def _end(run: TrainingRun, status: str, now: Any) -> None:
    run.status = status
    run.lease_token = run.heartbeat_at = None
    run.eta_seconds = None
    run.finished_at = now
    run.save()


# --- Worker side: training --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingEngine:
    """The engine's torch functions, handed in by the task body (the one place torch may load)."""

    train: Callable[..., Any]
    latest_checkpoint: Callable[[Path], Path | None]
    resolve_device: Callable[[str], Any]


@dataclass(frozen=True)
class Claim:
    run_id: int
    token: uuid.UUID
    worker: str
    attempt: int
    config: dict[str, Any]
    run_dir: Path


def execute_run(run_id: int, *, worker: str, load_engine: Callable[[], TrainingEngine]) -> str:
    """Claim the run, train it (resuming from its newest checkpoint), and record how it ended.

    Returns what happened, for the worker's log. Transient database errors propagate for the task to
    retry (the lease is released first so that the retry may claim at once); any other error fails the run.
    """
    claim = claim_run(run_id, worker=worker)
    if claim is None:
        return "skipped"
    try:
        # The lease is renewed from the claim on: loading the engine (torch, CUDA) may take longer than
        # RUN_LEASE_SECONDS, and a lease that lapses then hands the run to a second worker.
        with _Lease(claim) as lease:
            engine_fns = load_engine()
            config = engine.config_from_dict(claim.config)
            resume = engine_fns.latest_checkpoint(claim.run_dir)
            begin_training(claim, resume=resume, device=str(engine_fns.resolve_device(config.run.device)))
            result = engine_fns.train(
                config,
                claim.run_dir,
                on_progress=functools.partial(record_progress, claim),
                should_stop=lease.should_stop,
                resume=resume,
            )
    except LeaseLost:
        log.warning("run %s: lease lost to another worker; this attempt stops without writing", run_id)
        return "lease lost"
    except TRANSIENT_ERRORS:
        release_run(claim)
        raise
    except Exception as exc:
        fail_run(claim, exc)
        return "failed"
    return finish_run(claim, result)


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
                _event(
                    run.pk, f"delivery to {worker} ignored: {run.worker_host} is training it (attempt {run.attempt})"
                )
                return None
            if run.status == RunStatus.CANCELLING:
                _end(run, RunStatus.CANCELLED, now)
                _event(run.pk, f"cancelled: {run.worker_host} was lost before it could stop")
                return None
        elif run.status != RunStatus.QUEUED:
            log.info("run %s is %s; nothing to train", run_id, run.status)
            return None
        if run.attempt >= run.attempt_limit:
            run.error = (
                f"gave up after {run.attempt} attempts, each ended by its worker's loss; "
                "resume it once the cause (memory? a bad machine?) is fixed"
            )
            _end(run, RunStatus.FAILED, now)
            _event(run.pk, run.error, RunEvent.Level.ERROR)
            return None
        run.status = RunStatus.RUNNING
        run.attempt += 1
        run.lease_token = uuid.uuid4()
        run.worker_host = worker
        run.heartbeat_at = now
        run.started_at = run.started_at or now
        run.save()
        _event(run.pk, f"attempt {run.attempt} claimed by {worker}")
        return Claim(run.pk, run.lease_token, worker, run.attempt, run.config, run.run_dir)


def begin_training(claim: Claim, *, resume: Path | None, device: str) -> None:
    """Record where this attempt starts, and forget what an interrupted attempt logged past that point."""
    step = (run_folder.checkpoint_step(resume) or 0) if resume is not None else 0
    with transaction.atomic():
        run = _locked(claim.run_id)
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
            _event(run.pk, f"training from step 0 on {device}")
        else:
            _event(run.pk, f"resuming from the checkpoint of step {step} ({_relative(resume)}) on {device}")


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
        fields.update(sample_grid=_relative(progress.sample_grid), sample_step=progress.step)
    points = [
        MetricPoint(run_id=claim.run_id, name=name, kind=kind, step=progress.step, value=float(value))
        for kind, values in ((MetricKind.LOSS, progress.losses), (MetricKind.EVAL, progress.metrics))
        for name, value in values.items()
    ]
    with transaction.atomic():
        if not TrainingRun.objects.filter(pk=claim.run_id, lease_token=claim.token).update(**fields):
            raise LeaseLost
        _upsert_points(points)
        if progress.checkpoint:
            _record_checkpoint(claim.run_id, progress.step, progress.checkpoint)
        if progress.metrics:
            values = ", ".join(f"{name} {metric(name, value)}" for name, value in progress.metrics.items())
            _event(claim.run_id, f"step {progress.step}: {values}")


def finish_run(claim: Claim, result: Any) -> str:
    """Mark the run done, or cancelled when the loop stopped because it was asked to."""
    with transaction.atomic():
        run = _locked(claim.run_id)
        if run.lease_token != claim.token:
            log.warning("run %s: finished, but another worker holds it now; leaving it to that one", run.pk)
            return "lease lost"
        _record_checkpoint(run.pk, result.step, result.checkpoint)
        run.step = result.step
        status = RunStatus.DONE if result.status == "done" else RunStatus.CANCELLED
        _end(run, status, timezone.now())
        _event(run.pk, f"{status} at step {result.step}; checkpoint {_relative(result.checkpoint)}")
    return status


def fail_run(claim: Claim, exc: BaseException) -> None:
    """Store the error and mark the run failed; ``resume_run`` continues it from its newest checkpoint."""
    with transaction.atomic():
        run = _locked(claim.run_id)
        if run.lease_token != claim.token:
            log.warning("run %s: attempt %s failed after losing its lease: %s", run.pk, claim.attempt, exc)
            return
        run.error = f"{type(exc).__name__}: {exc}"
        _end(run, RunStatus.FAILED, timezone.now())
        trace = "".join(traceback.format_exception(exc))
        _event(run.pk, f"failed on {claim.worker}: {trace[-4000:]}", RunEvent.Level.ERROR)


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


class _Lease:
    """Renews the claim from a thread of its own, so that the lease stays live while the engine loads
    data or evaluates (no progress reports then); the loop reads its flags every step at no cost."""

    def __init__(self, claim: Claim):
        self.claim = claim
        self.cancel_requested = False
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-run-{claim.run_id}", daemon=True)

    def __enter__(self) -> _Lease:
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
    Checkpoint.objects.update_or_create(run_id=run_id, step=step, defaults={"path": _relative(path), "pruned": False})
    # The engine has just deleted the periodic checkpoints beyond run.keep_checkpoints.
    gone = [c.pk for c in Checkpoint.objects.filter(run_id=run_id, pruned=False) if not c.file.exists()]
    if gone:
        Checkpoint.objects.filter(pk__in=gone).update(pruned=True)


# --- Pools, scores and domain classifiers -----------------------------------------------------------
# Short jobs: a delivery that finds its job queued or running (its worker lost) does it again from the
# start; each writes somewhere new and moves it into place, so a repeat never leaves half a result.


def sample_pool(
    run: TrainingRun,
    *,
    size: int,
    seed: int = 0,
    checkpoint: Checkpoint | None = None,
    user: Any = None,
    queue: bool = True,
) -> ImagePool:
    """Queue a pool of ``size`` images generated from a checkpoint of the run, its newest by default (image i from
    seed + i). ``queue=False`` leaves the sending to the caller (a sweep's chain)."""
    if size < 1:
        raise ServiceError("size: a pool holds at least one image")
    if checkpoint is None:
        checkpoint = run.checkpoints.filter(pruned=False).order_by("-step").first()
        if checkpoint is None:
            raise ServiceError(f"run #{run.pk} has no checkpoint to sample from yet")
    elif checkpoint.run_id != run.pk or checkpoint.pruned:
        raise ServiceError(f"checkpoint: step {checkpoint.step} is not a kept checkpoint of run #{run.pk}")
    with transaction.atomic():
        pool = ImagePool.objects.create(
            kind=ImagePool.Kind.GENERATED,
            run=run,
            checkpoint=checkpoint,
            step=checkpoint.step,
            dataset=run.dataset,
            size=size,
            seed=seed,
            created_by=_author(user),
        )
        if queue:
            _queue("sample_pool", pool.pk)
    return pool


def draw_real_pool(
    dataset: str,
    *,
    size: int,
    seed: int = 0,
    split: str = "train",
    image_size: int | None = None,
    user: Any = None,
    queue: bool = True,
) -> ImagePool:
    """Queue a pool of ``size`` distinct real images drawn from a dataset split, encoded as generated pools are."""
    if dataset not in engine.dataset_names():
        raise ServiceError(f"dataset: unknown dataset {dataset!r}; choose one of {', '.join(engine.dataset_names())}")
    if size < 1:
        raise ServiceError("size: a pool holds at least one image")
    if split not in ("train", "test"):
        raise ServiceError("split: train or test")
    with transaction.atomic():
        pool = ImagePool.objects.create(
            kind=ImagePool.Kind.REAL,
            dataset=dataset,
            size=size,
            seed=seed,
            split=split,
            image_size=image_size,
            created_by=_author(user),
        )
        if queue:
            _queue("draw_real_pool", pool.pk)
    return pool


def score_pool(
    pool: ImagePool,
    *,
    scorer: str,
    fid: bool = True,
    real_split: str = "train",
    real_n: int | None = None,
    user: Any = None,
) -> PoolScore:
    """Queue the scoring of a written pool by a named network: IS, and FID/KID against the real images
    of the pool's dataset when ``fid`` (``real_n`` of them, the whole split when None)."""
    if scorer not in dict(engine.scorer_choices()):
        raise ServiceError(
            f"scorer: unknown scorer {scorer!r}; choose one of {', '.join(dict(engine.scorer_choices()))}"
        )
    if pool.status != JobStatus.DONE:
        raise ServiceError(f"{pool} is {pool.status}: only a written pool can be scored")
    if real_n is not None and real_n < 2:
        raise ServiceError("real_n: FID needs at least 2 real images")
    with transaction.atomic():
        score = PoolScore.objects.create(
            pool=pool,
            scorer=scorer,
            fid=fid,
            real_split=real_split,
            real_n=real_n,
            created_by=_author(user),
        )
        _queue("score_pool", score.pk)
    return score


def train_domain_classifier(
    dataset: str, *, epochs: int = 3, min_accuracy: float = 0.9, limit: int | None = None, user: Any = None
) -> DomainClassifier:
    """Queue the training of the dataset's own classifier, the offline network for IS and FID."""
    scorer = engine.domain_scorer(dataset)
    if scorer is None:
        raise ServiceError(f"dataset: {dataset!r} has no domain classifier (it needs fixed class labels)")
    if epochs < 1:
        raise ServiceError("epochs: must be at least 1")
    with transaction.atomic():
        classifier = DomainClassifier.objects.create(
            dataset=dataset,
            scorer=scorer,
            epochs=epochs,
            min_accuracy=min_accuracy,
            limit=limit,
            created_by=_author(user),
        )
        _queue("train_domain_classifier", classifier.pk)
    return classifier


@dataclass(frozen=True)
class SamplingEngine:
    load_generator: Callable[..., Any]
    generate: Callable[..., Any]
    write_pool: Callable[..., Path]
    resolve_device: Callable[[str], Any]


@dataclass(frozen=True)
class RealPoolEngine:
    load_split: Callable[[str, str, int | None], Any]  # (dataset, split, image_size) → images, uint8 (N, C, H, W)
    write_pool: Callable[..., Path]


@dataclass(frozen=True)
class ScoringEngine:
    load_scorer: Callable[..., Any]
    read_pool: Callable[[Path], tuple[Any, dict[str, Any]]]
    real_statistics: Callable[..., Any]
    score_images: Callable[..., dict[str, Any]]
    record_scores: Callable[[Path, dict[str, Any]], Any]
    resolve_device: Callable[[str], Any]
    # (generated images, dataset, seed, device) → the C2ST's values against held-out real images of the dataset
    two_sample_test: Callable[..., dict[str, Any]] | None = None


def _claim_job(model: type[ImagePool | PoolScore | DomainClassifier], pk: int) -> Any:
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None or job.status in (JobStatus.DONE, JobStatus.FAILED):
            return None
        job.status, job.error = JobStatus.RUNNING, ""
        job.save(update_fields=["status", "error"])
        return job


def _fail_job(job: ImagePool | PoolScore | DomainClassifier, exc: BaseException) -> str:
    log.warning("%s failed: %s", job, exc)
    job.status, job.error, job.finished_at = JobStatus.FAILED, f"{type(exc).__name__}: {exc}", timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return "failed"


def execute_sample_pool(pool_id: int, *, load_engine: Callable[[], SamplingEngine]) -> str:
    pool = _claim_job(ImagePool, pool_id)
    if pool is None:
        return "skipped"
    try:
        fns = load_engine()
        if pool.checkpoint is None:
            raise ServiceError(f"{pool}: its checkpoint was deleted")
        loaded = fns.load_generator(pool.checkpoint.file, str(fns.resolve_device("auto")))
        images = fns.generate(loaded, pool.size, seed=pool.seed)
        source = {
            "run": pool.run_id,
            "run_uid": str(pool.run.uid) if pool.run else None,
            "checkpoint": pool.checkpoint.path,
            "step": pool.step,
            "recipe": loaded.config.recipe,
            "dataset": pool.dataset,
            "batch_size": loaded.config.optim.batch_size,
        }
        seeds = list(range(pool.seed, pool.seed + pool.size))
        _write_pool_folder(pool, lambda out: fns.write_pool(images, out, source=source, seeds=seeds))
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _fail_job(pool, exc)
    return _pool_written(pool)


def execute_real_pool(pool_id: int, *, load_engine: Callable[[], RealPoolEngine]) -> str:
    pool = _claim_job(ImagePool, pool_id)
    if pool is None:
        return "skipped"
    try:
        fns = load_engine()
        images = fns.load_split(pool.dataset, pool.split, pool.image_size)
        if pool.size > len(images):
            raise ServiceError(f"size: {pool.dataset} {pool.split} has {len(images)} images, fewer than {pool.size}")
        indices = random.Random(pool.seed).sample(range(len(images)), pool.size)
        source = {"dataset": pool.dataset, "split": pool.split, "seed": pool.seed, "image_size": pool.image_size}
        _write_pool_folder(
            pool, lambda out: fns.write_pool(images[indices], out, source=source, kind="real", indices=indices)
        )
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _fail_job(pool, exc)
    return _pool_written(pool)


def _write_pool_folder(pool: ImagePool, write: Callable[[Path], Any]) -> None:
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


def _pool_written(pool: ImagePool) -> str:
    pool.status, pool.path, pool.finished_at = JobStatus.DONE, pool.dir_name, timezone.now()
    pool.save(update_fields=["status", "path", "finished_at"])
    return "done"


def execute_score_pool(score_id: int, *, load_engine: Callable[[], ScoringEngine]) -> str:
    score = _claim_job(PoolScore, score_id)
    if score is None:
        return "skipped"
    pool = score.pool
    try:
        if pool.status != JobStatus.DONE:
            # A sweep's chain scores the pool its first task wrote; that task may have failed.
            raise ServiceError(f"{pool} is {pool.status}{': ' + pool.error if pool.error else ''}; nothing to score")
        fns = load_engine()
        images, _ = fns.read_pool(pool.folder)
        network = fns.load_scorer(score.scorer, str(fns.resolve_device("auto")))
        real = None
        if score.fid:
            dataset = engine.scorer_dataset(score.scorer) or pool.dataset
            real = fns.real_statistics(network, dataset, score.real_split, score.real_n)
        record = fns.score_images(images, network, real=real)
        if fns.two_sample_test is not None and pool.kind == ImagePool.Kind.GENERATED:
            record.update(_two_sample_test(fns, images, pool))
        fns.record_scores(pool.folder, record)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _fail_job(score, exc)
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
            _event(pool.run_id, f"{pool} scored: {score.summary}")
    return "done"


def _two_sample_test(fns: ScoringEngine, images: Any, pool: ImagePool) -> dict[str, Any]:
    """The pool's C2ST against held-out real images, or why it could not run: the IS and FID stand without it."""
    try:
        return fns.two_sample_test(images, pool.dataset, seed=pool.seed, device=str(fns.resolve_device("auto")))
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        log.warning("%s: C2ST failed: %s", pool, exc)
        return {"c2st_error": f"{type(exc).__name__}: {exc}"}


def execute_domain_classifier(classifier_id: int, *, load_engine: Callable[[], Callable[..., dict[str, Any]]]) -> str:
    classifier = _claim_job(DomainClassifier, classifier_id)
    if classifier is None:
        return "skipped"
    try:
        train = load_engine()
        meta = train(
            classifier.dataset, epochs=classifier.epochs, min_accuracy=classifier.min_accuracy, limit=classifier.limit
        )
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        return _fail_job(classifier, exc)
    classifier.status, classifier.finished_at = JobStatus.DONE, timezone.now()
    classifier.test_accuracy, classifier.weights_sha256, classifier.meta = meta["test_accuracy"], meta["sha256"], meta
    classifier.save()
    return "done"
