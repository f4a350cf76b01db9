"""The research side's records: training runs, their checkpoints and metric series, image pools and
their scores. Fields, constraints and small properties only: every write goes through actions.py
(the web's) or worker.py (the worker's)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from runs.numbers import measurement, number


def artifact_path(relative: str) -> Path:
    """A stored artifact path (relative to ARTIFACTS_DIR, so that machines may mount it anywhere) made absolute."""
    return settings.ARTIFACTS_DIR / relative


class RunStatus(models.TextChoices):
    DRAFT = "draft"
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DONE = "done"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING)
# A worker holds a lease on the run's row in these states.
LEASED_STATUSES = (RunStatus.RUNNING, RunStatus.CANCELLING)


class Ablation(models.Model):
    """The paper's ablation table launched from one run: one run per variant, compared side by side."""

    name = models.CharField(max_length=200)
    base_run = models.ForeignKey("TrainingRun", null=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("runs:ablation", args=[self.pk])


class TrainingRun(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    # The whole validated config (gan_engine's TrainConfig.to_dict()); recipe, dataset and steps are
    # copied out of it for filters and progress bars.
    config = models.JSONField()
    recipe = models.CharField(max_length=64)
    dataset = models.CharField(max_length=64)
    total_steps = models.PositiveIntegerField()

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.DRAFT, db_index=True)
    # Claims taken so far; a claim past attempt_limit fails the run instead of training it again.
    attempt = models.PositiveIntegerField(default=0)
    attempt_limit = models.PositiveIntegerField(default=0)
    # The claim of the worker training the run: whoever holds the token may write progress, and the
    # lease lapses when heartbeat_at stops moving.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    device = models.CharField(max_length=32, blank=True)

    step = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0)
    images_per_sec = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True)
    sample_grid = models.CharField(max_length=500, blank=True)
    sample_step = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    source_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies")
    ablation = models.ForeignKey(Ablation, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    ablation_variant = models.CharField(max_length=32, blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid"),
            models.CheckConstraint(condition=Q(step__lte=models.F("total_steps")), name="run_step_within_total"),
            models.CheckConstraint(
                condition=Q(lease_token__isnull=True) | Q(status__in=LEASED_STATUSES), name="run_lease_only_when_leased"
            ),
            models.UniqueConstraint(
                fields=("ablation", "ablation_variant"),
                condition=Q(ablation__isnull=False),
                name="run_one_per_ablation_variant",
            ),
        )

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("runs:detail", args=[self.pk])

    @property
    def run_dir_name(self) -> str:
        # The uid, not the id: a fresh database reuses ids, and a run must never resume another's checkpoints.
        return f"runs/{self.uid}"

    @property
    def run_dir(self) -> Path:
        return artifact_path(self.run_dir_name)

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def percent(self) -> int:
        return int(100 * self.fraction)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def lease_expired(self, now: datetime) -> bool:
        lease = timedelta(seconds=settings.RUN_LEASE_SECONDS)
        return self.heartbeat_at is None or self.heartbeat_at < now - lease


class Checkpoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    path = models.CharField(max_length=500)  # relative to ARTIFACTS_DIR
    # The engine keeps only the newest few periodic checkpoints on disk.
    pruned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("run", "step")
        constraints = (models.UniqueConstraint(fields=("run", "step"), name="checkpoint_one_per_step"),)

    def __str__(self) -> str:
        return f"{self.run} step {self.step}"

    @property
    def file(self) -> Path:
        return artifact_path(self.path)


class MetricKind(models.TextChoices):
    LOSS = "loss"  # reported by the training loop every few steps
    EVAL = "eval"  # the loop's evaluations (semi-supervised test error)
    SCORE = "score"  # a scorer's result on a pool sampled from the checkpoint of that step (IS, FID)


class MetricPoint(models.Model):
    """One value of one series (run, name) at one step; a re-run step overwrites its value."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_points")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=MetricKind.choices)
    step = models.PositiveIntegerField()
    value = models.FloatField()
    std = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("run", "name", "step")
        constraints = (models.UniqueConstraint(fields=("run", "name", "step"), name="metric_one_per_step"),)

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value:g}"


class RunEvent(models.Model):
    """The run's log: claims, resumes, checkpoints, evaluations, cancellation, errors."""

    class Level(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        ERROR = "error"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()

    class Meta:
        ordering = ("run", "id")

    def __str__(self) -> str:
        return self.message


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    FAILED = "failed"
    DONE = "done"


class ImagePool(models.Model):
    """A folder of images with a manifest: generated from a checkpoint, or real images of a dataset."""

    class Kind(models.TextChoices):
        GENERATED = "generated"
        REAL = "real"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="pools")
    checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="pools")
    step = models.PositiveIntegerField(null=True, blank=True)
    dataset = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    # Generated: image i comes from latent seed + i. Real: the seed of the draw from the dataset split.
    seed = models.IntegerField(default=0)
    split = models.CharField(max_length=8, blank=True)  # real pools: the dataset split drawn from
    image_size = models.PositiveIntegerField(null=True, blank=True)  # real pools: resized to (None: native)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    path = models.CharField(max_length=500, blank=True)  # relative to ARTIFACTS_DIR, set when written
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (models.CheckConstraint(condition=Q(size__gt=0), name="pool_not_empty"),)

    def __str__(self) -> str:
        origin = f"run #{self.run_id} step {self.step}" if self.kind == self.Kind.GENERATED else self.dataset
        return f"pool #{self.pk} ({self.size} {self.kind}, {origin})"

    @property
    def dir_name(self) -> str:
        return f"pools/{self.uid}"

    @property
    def folder(self) -> Path:
        return artifact_path(self.path or self.dir_name)


class PoolScore(models.Model):
    """One scoring of a pool: the Inception Score (mean and std over splits) and, when asked, FID and KID
    against the real images of the pool's dataset, all from one named network whose weights hash the
    engine's record carries."""

    pool = models.ForeignKey(ImagePool, on_delete=models.CASCADE, related_name="scores")
    scorer = models.CharField(max_length=64)
    fid = models.BooleanField(default=True)
    real_split = models.CharField(max_length=8, default="train")
    real_n = models.PositiveIntegerField(null=True, blank=True)  # None: the whole split
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    # The engine's record (scorer, weights_sha256, n, is_mean, is_std, fid, kid_mean...) without per-image values.
    values = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.scorer} on {self.pool}"

    @property
    def summary(self) -> str:
        if self.status != JobStatus.DONE:
            return self.status
        v = self.values
        parts = [f"IS {measurement(v['is_mean'], v['is_std'])}"]
        if "fid" in v:
            parts.append(f"FID {number(v['fid'])}")
        if "c2st_accuracy" in v:
            parts.append(f"C2ST {100 * v['c2st_accuracy']:.0f}% (50% = chance)")
        return ", ".join(parts)


class DomainClassifier(models.Model):
    """A dataset's own classifier, trained to serve as the offline scoring network (``<dataset>_cnn``)."""

    dataset = models.CharField(max_length=64)
    scorer = models.CharField(max_length=64)
    epochs = models.PositiveIntegerField(default=3)
    min_accuracy = models.FloatField(default=0.9)
    limit = models.PositiveIntegerField(null=True, blank=True)  # train on the first N images only
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    test_accuracy = models.FloatField(null=True, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.scorer} ({self.status})"
