"""What the web asks of the research side: the verbs that views, admin actions and management commands call.

They change rows and queue work once their transaction commits (create_run, edit_run, launch_run, cancel_run,
resume_run, duplicate_run, launch_ablation, sample_pool, draw_real_pool, score_pool, train_domain_classifier), and
recover_stale_runs re-queues runs whose worker stopped renewing its lease (the beat's task). The worker's side of
each run and job is worker.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gan_engine.config import config_from_dict
from gan_engine.registry import DATASETS
from runs import planning, tasks
from runs.models import (
    LEASED_STATUSES,
    Ablation,
    Checkpoint,
    DomainClassifier,
    ImagePool,
    JobStatus,
    PoolScore,
    RunEvent,
    RunStatus,
    TrainingRun,
)
from runs.worker import end_run, lock_run, log_event


class RunError(Exception):
    """A request the current state does not allow; the message says what and why, for the researcher."""


def author(user: Any) -> Any:
    """The user to store as a row's creator: None for an anonymous or absent one."""
    return user if user is not None and user.is_authenticated else None


def _who(user: Any) -> str:
    return f" by {user.get_username()}" if author(user) else ""


def _queue(task: Task, *args: Any) -> None:
    """Send the task once the surrounding transaction commits: a worker must find the rows it is sent."""
    transaction.on_commit(lambda: task.delay(*args))


# --- Runs -------------------------------------------------------------------------------------------


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
            created_by=author(user),
            source_run=source_run,
            ablation=ablation,
            ablation_variant=variant,
        )
        log_event(run.pk, f"created{_who(user)}" + (f" from run #{source_run.pk}" if source_run else ""))
        if launch:
            run = launch_run(run, user=user)
    return run


def edit_run(run: TrainingRun, *, name: str, notes: str, config: Any = None) -> TrainingRun:
    """Rename a run or change its notes; a draft's config may change too."""
    with transaction.atomic():
        run = lock_run(run.pk)
        run.name, run.notes = name, notes
        fields = ["name", "notes", "updated_at"]
        if config is not None:
            if run.status != RunStatus.DRAFT:
                raise RunError(f"run #{run.pk} is {run.status}: only a draft's config can change")
            run.config, run.recipe, run.dataset = config.to_dict(), config.recipe, config.data.dataset
            run.total_steps = config.optim.steps
            fields += ["config", "recipe", "dataset", "total_steps"]
        run.save(update_fields=fields)
    return run


def launch_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """Queue a draft for training."""
    with transaction.atomic():
        run = lock_run(run.pk)
        if run.status != RunStatus.DRAFT:
            raise RunError(f"run #{run.pk} is {run.status}: only a draft can be launched (resume a stopped run)")
        run.status = RunStatus.QUEUED
        run.queued_at = timezone.now()
        run.attempt_limit = run.attempt + settings.RUN_MAX_ATTEMPTS
        run.save(update_fields=["status", "queued_at", "attempt_limit", "updated_at"])
        log_event(run.pk, f"queued{_who(user)}")
        _queue(tasks.train_run, run.pk)
    return run


def cancel_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """Stop a run. A queued run is cancelled at once; a training one is asked to stop, and its worker
    writes a checkpoint and marks it cancelled within RUN_HEARTBEAT_SECONDS and a step."""
    with transaction.atomic():
        run = lock_run(run.pk)
        now = timezone.now()
        if run.status in LEASED_STATUSES and not run.lease_expired(now):
            if run.status == RunStatus.RUNNING:
                run.status = RunStatus.CANCELLING
                run.save(update_fields=["status", "updated_at"])
                log_event(run.pk, f"cancellation requested{_who(user)}; {run.worker_host} stops at its next step")
            return run
        if run.status not in (RunStatus.DRAFT, RunStatus.QUEUED, *LEASED_STATUSES):
            raise RunError(f"run #{run.pk} is {run.status}: there is nothing to cancel")
        # No live worker holds it: a queued message that arrives later finds it cancelled.
        end_run(run, RunStatus.CANCELLED, now)
        log_event(run.pk, f"cancelled{_who(user)}")
    return run


def resume_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """Queue a failed, cancelled or stalled run again; it continues from its newest checkpoint."""
    with transaction.atomic():
        run = lock_run(run.pk)
        now = timezone.now()
        stalled = run.status in LEASED_STATUSES and run.lease_expired(now)
        if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED) and not stalled:
            raise RunError(f"run #{run.pk} is {run.status}: only a failed, cancelled or stalled run can be resumed")
        run.status = RunStatus.QUEUED
        run.error = ""
        run.lease_token = run.heartbeat_at = run.finished_at = None
        run.queued_at = now
        run.attempt_limit = run.attempt + settings.RUN_MAX_ATTEMPTS
        run.save()
        log_event(run.pk, f"resume requested{_who(user)}; training continues from the newest checkpoint")
        _queue(tasks.train_run, run.pk)
    return run


def duplicate_run(run: TrainingRun, *, user: Any = None) -> TrainingRun:
    """A draft with the same config (validated again), to edit and launch."""
    config = config_from_dict(run.config)
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
            created_by=author(user),
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
        log_event(
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
            run = lock_run(run_id)
            if run.status not in LEASED_STATUSES or not run.lease_expired(now):
                continue
            if run.status == RunStatus.CANCELLING:
                end_run(run, RunStatus.CANCELLED, now)
                log_event(run.pk, f"cancelled: {run.worker_host} stopped renewing its lease before it could stop")
            else:
                worker = run.worker_host
                run.status = RunStatus.QUEUED
                run.lease_token = run.heartbeat_at = None
                run.queued_at = now
                run.save(update_fields=["status", "lease_token", "heartbeat_at", "queued_at", "updated_at"])
                log_event(
                    run.pk,
                    f"{worker} stopped renewing its lease; queued again to resume from the newest checkpoint",
                    RunEvent.Level.WARNING,
                )
                _queue(tasks.train_run, run.pk)
            changed += 1
    return changed


# --- Pools, scores and domain classifiers -----------------------------------------------------------


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
        raise RunError("size: a pool holds at least one image")
    if checkpoint is None:
        checkpoint = run.checkpoints.filter(pruned=False).order_by("-step").first()
        if checkpoint is None:
            raise RunError(f"run #{run.pk} has no checkpoint to sample from yet")
    elif checkpoint.run_id != run.pk or checkpoint.pruned:
        raise RunError(f"checkpoint: step {checkpoint.step} is not a kept checkpoint of run #{run.pk}")
    with transaction.atomic():
        pool = ImagePool.objects.create(
            kind=ImagePool.Kind.GENERATED,
            run=run,
            checkpoint=checkpoint,
            step=checkpoint.step,
            dataset=run.dataset,
            size=size,
            seed=seed,
            created_by=author(user),
        )
        if queue:
            _queue(tasks.sample_pool, pool.pk)
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
    if dataset not in DATASETS.names():
        raise RunError(f"dataset: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS.names())}")
    if size < 1:
        raise RunError("size: a pool holds at least one image")
    if split not in ("train", "test"):
        raise RunError("split: train or test")
    with transaction.atomic():
        pool = ImagePool.objects.create(
            kind=ImagePool.Kind.REAL,
            dataset=dataset,
            size=size,
            seed=seed,
            split=split,
            image_size=image_size,
            created_by=author(user),
        )
        if queue:
            _queue(tasks.draw_real_pool, pool.pk)
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
    if scorer not in dict(planning.scorer_choices()):
        raise RunError(f"scorer: unknown scorer {scorer!r}; choose one of {', '.join(dict(planning.scorer_choices()))}")
    if pool.status != JobStatus.DONE:
        raise RunError(f"{pool} is {pool.status}: only a written pool can be scored")
    if real_n is not None and real_n < 2:
        raise RunError("real_n: FID needs at least 2 real images")
    with transaction.atomic():
        score = PoolScore.objects.create(
            pool=pool,
            scorer=scorer,
            fid=fid,
            real_split=real_split,
            real_n=real_n,
            created_by=author(user),
        )
        _queue(tasks.score_pool, score.pk)
    return score


def train_domain_classifier(
    dataset: str, *, epochs: int = 3, min_accuracy: float = 0.9, limit: int | None = None, user: Any = None
) -> DomainClassifier:
    """Queue the training of the dataset's own classifier, the offline network for IS and FID."""
    scorer = planning.domain_scorer(dataset)
    if scorer is None:
        raise RunError(f"dataset: {dataset!r} has no domain classifier (it needs fixed class labels)")
    if epochs < 1:
        raise RunError("epochs: must be at least 1")
    with transaction.atomic():
        classifier = DomainClassifier.objects.create(
            dataset=dataset,
            scorer=scorer,
            epochs=epochs,
            min_accuracy=min_accuracy,
            limit=limit,
            created_by=author(user),
        )
        _queue(tasks.train_domain_classifier, classifier.pk)
    return classifier
