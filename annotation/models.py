"""Human visual Turing tests: studies, the images they show, annotators, their assignments and judgments.

Fields, constraints and small properties only: every write goes through annotation.actions. Everything an
annotator's browser may hold (the study's public id, an assignment's token, an image's token) is a
random string that says nothing about the row behind it; the truth of an item lives on StudyItem and
never leaves the server before the annotator's answer is stored.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from runs.models import ImagePool

# What public ids and tokens are made of (secrets.token_urlsafe's alphabet), and no longer than their fields.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{1,64}"


def public_id() -> str:
    return secrets.token_urlsafe(12)


def secret_token() -> str:
    return secrets.token_urlsafe(24)


def pseudonym() -> str:
    return secrets.token_hex(8)


def completion_code() -> str:
    return secrets.token_hex(4).upper()


# The heading of a study without a public title (one opened before studies had them).
UNTITLED = "Real or generated?"


def study_seed() -> int:
    return secrets.randbelow(2**31)


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        CLOSED = "closed"

    class Protocol(models.TextChoices):
        SALIMANS = "salimans", "Salimans et al. 2016: unlimited viewing"
        HYPE_INFINITY = "hype_infinity", "HYPE∞: unlimited time, error rate"
        HYPE_TIME = "hype_time", "HYPE-time: adaptive exposure staircase"

    class Feedback(models.TextChoices):
        NONE = "none", "no feedback"
        EACH = "each", "after each judgment"
        RANDOMISED = "randomised", "annotators randomised between both arms"

    public_id = models.CharField(max_length=32, unique=True, default=public_id, editable=False)
    name = models.CharField(max_length=200, help_text="for researchers only: annotators see the public title")
    title = models.CharField(max_length=200, blank=True, help_text="the heading annotators see")
    # Plain text shown to annotators: rendered escaped, paragraphs kept, never as HTML.
    instructions = models.TextField(blank=True)
    consent_text = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    protocol = models.CharField(max_length=16, choices=Protocol.choices, default=Protocol.SALIMANS)
    feedback = models.CharField(max_length=16, choices=Feedback.choices, default=Feedback.NONE)
    feedback_ms = models.PositiveIntegerField(
        default=900,
        help_text="how long feedback stays (ms); Space or a tap goes on sooner; 0: until then",
    )
    real_fraction = models.FloatField(default=0.5, help_text="share of real images in each annotator's sequence")
    items_per_assignment = models.PositiveIntegerField(default=100)
    # Trials per block (hype_time: 150); blank: the whole sequence is one block.
    block_size = models.PositiveIntegerField(null=True, blank=True)
    judgments_per_item = models.PositiveIntegerField(default=3)
    attention_per_assignment = models.PositiveIntegerField(
        default=0, help_text="attention-check trials mixed into each sequence"
    )
    require_qualification = models.BooleanField(default=False)
    qualification_items = models.PositiveIntegerField(default=100)
    qualification_threshold = models.FloatField(
        default=0.65, help_text="share right needed on the real half and on the generated half"
    )
    max_assignments_per_annotator = models.PositiveIntegerField(
        default=1, help_text="sequences one person may complete (each with images they have not seen)"
    )
    completion_code = models.CharField(max_length=64, default=completion_code)
    # Pools of different datasets are refused at opening unless the researcher says why the mix is wanted.
    mixed_datasets_reason = models.TextField(
        blank=True, help_text="only to mix pools of different datasets on purpose: why (kept with the study)"
    )
    # Draws are reproducible: an assignment's sequence comes from (seed, assignment id).
    seed = models.PositiveIntegerField(default=study_seed)
    # Its owner; it, the groups it is shared with and superusers see its results and exports (annotation.access).
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    shared_with = models.ManyToManyField(
        "auth.Group", blank=True, related_name="shared_studies", help_text="groups that see its results and exports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "studies"
        constraints = (
            models.CheckConstraint(condition=Q(status__in=["draft", "open", "closed"]), name="study_status_valid"),
            models.CheckConstraint(
                condition=Q(protocol__in=["salimans", "hype_infinity", "hype_time"]), name="study_protocol_valid"
            ),
            models.CheckConstraint(
                condition=Q(feedback__in=["none", "each", "randomised"]), name="study_feedback_valid"
            ),
            models.CheckConstraint(condition=Q(real_fraction__gt=0, real_fraction__lt=1), name="study_real_fraction"),
            models.CheckConstraint(condition=Q(feedback_ms__lte=60_000), name="study_feedback_ms_range"),
            models.CheckConstraint(condition=Q(items_per_assignment__gt=0), name="study_items_positive"),
            models.CheckConstraint(condition=Q(judgments_per_item__gt=0), name="study_judgments_positive"),
            models.CheckConstraint(condition=Q(max_assignments_per_annotator__gt=0), name="study_assignments_positive"),
            models.CheckConstraint(
                condition=Q(qualification_threshold__gte=0, qualification_threshold__lte=1),
                name="study_threshold_fraction",
            ),
        )

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("annotation:results", args=[self.pk])

    @property
    def public_title(self) -> str:
        """What annotators read as the study's name: never the internal one (it may say what is compared)."""
        return self.title or UNTITLED

    @property
    def entry_path(self) -> str:
        return reverse("annotation:entry", args=[self.public_id])

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class StudyPool(models.Model):
    """A pool the study draws from: the real pool, or a generated one (optionally its top k% by IS)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="study_pools")
    pool = models.ForeignKey(ImagePool, on_delete=models.PROTECT, related_name="study_pools")
    label = models.CharField(max_length=100, blank=True, help_text="name in results (default: the pool's)")
    top_percent = models.FloatField(
        null=True, blank=True, help_text="generated pools: keep only this top percentage by Inception Score"
    )
    weight = models.FloatField(default=1.0, help_text="share among the pools of the same kind")
    max_items = models.PositiveIntegerField(null=True, blank=True, help_text="a random subset of this size")

    class Meta:
        ordering = ("study", "id")
        constraints = (
            models.UniqueConstraint(fields=["study", "pool"], name="study_pool_once"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="study_pool_weight_positive"),
            models.CheckConstraint(
                condition=Q(top_percent__isnull=True) | Q(top_percent__gt=0, top_percent__lte=100),
                name="study_pool_top_percent",
            ),
        )

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.label or str(self.pool)


class StudyItem(models.Model):
    """One image of a study and its truth. Test items are judged for the results; qualification items
    screen annotators; attention items are obvious cases whose misses flag an annotator."""

    class Purpose(models.TextChoices):
        TEST = "test"
        QUALIFICATION = "qualification"
        ATTENTION = "attention"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    pool = models.ForeignKey(ImagePool, on_delete=models.PROTECT, related_name="+")
    file = models.CharField(max_length=255)  # a name listed in the pool's manifest, inside its folder
    truth_real = models.BooleanField()
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.TEST)
    # The image's contribution to its pool's Inception Score (KL(p(y|x) || p(y))), where the pool has them.
    inception_kl = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("study", "id")
        constraints = (
            models.UniqueConstraint(fields=["study", "pool", "file"], name="study_item_once"),
            models.CheckConstraint(
                condition=Q(purpose__in=["test", "qualification", "attention"]), name="study_item_purpose_valid"
            ),
        )
        indexes = (models.Index(fields=["study", "purpose", "pool"], name="study_item_stratum"),)

    def __str__(self) -> str:
        return f"{self.purpose} item #{self.pk} of study #{self.study_id}"


class AttentionItemManager(models.Manager["AttentionItem"]):
    def get_queryset(self) -> models.QuerySet[AttentionItem]:
        return super().get_queryset().filter(purpose=StudyItem.Purpose.ATTENTION)


class AttentionItem(StudyItem):
    """The attention checks of studies, for their own admin page."""

    objects = AttentionItemManager()

    class Meta:
        proxy = True


class Annotator(models.Model):
    class Platform(models.TextChoices):
        MTURK = "mturk", "Mechanical Turk"
        PROLIFIC = "prolific", "Prolific"
        INVITE = "invite", "invitation link"

    class Qualification(models.TextChoices):
        NOT_REQUIRED = "not_required"
        PENDING = "pending"
        PASSED = "passed"
        FAILED = "failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="annotators")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    # The platform's worker id (MTurk workerId, PROLIFIC_PID) or a random one for an invitation link.
    external_id = models.CharField(max_length=128)
    # What exports and results show instead of the platform's id.
    pseudonym = models.CharField(max_length=16, unique=True, default=pseudonym, editable=False)
    feedback = models.BooleanField(help_text="the arm: feedback after each judgment or not")
    qualification = models.CharField(max_length=16, choices=Qualification.choices)
    # A model observer driven through the annotator flow (annotation.simulation): never counted as a person.
    simulated = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("study", "id")
        constraints = (
            models.UniqueConstraint(fields=["study", "platform", "external_id"], name="annotator_once_per_study"),
        )

    def __str__(self) -> str:
        return f"annotator {self.pseudonym}"

    @property
    def condition(self) -> str:
        return "feedback" if self.feedback else "no_feedback"


class Assignment(models.Model):
    """One sitting of an annotator: its sequence of items, where it stands, and how it ends."""

    class Stage(models.TextChoices):
        QUALIFICATION = "qualification"
        TEST = "test"
        COMPLETE = "complete"  # every item answered; the annotator has not pressed "finish" yet
        SUBMITTED = "submitted"
        DISQUALIFIED = "disqualified"
        WITHDRAWN = "withdrawn"  # the annotator chose to stop; the answers given stay
        ABANDONED = "abandoned"  # replaced by a newer assignment of the same annotator

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="assignments")
    # The capability in the annotator's URL: whoever holds it is that annotator, and nobody else is.
    token = models.CharField(max_length=64, unique=True, default=secret_token, editable=False)
    # MTurk assignmentId / Prolific SESSION_ID (blank for invitation links), and hitId / STUDY_ID.
    external_id = models.CharField(max_length=128, blank=True)
    external_group = models.CharField(max_length=128, blank=True)
    submit_to = models.URLField(blank=True)  # MTurk's turkSubmitTo, checked against MTurk's own hosts
    stage = models.CharField(max_length=16, choices=Stage.choices)
    exposure_ms = models.PositiveIntegerField(null=True, blank=True)  # hype_time: the staircase's current value
    created_at = models.DateTimeField(auto_now_add=True)
    # The last write (start or answer): paces answers, and lets the reservation of unanswered items lapse.
    active_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Items answered so far, set by each answer. Items are answered in order only, so this is the position of the
    # current item: an answer or a state looks for it from here rather than past every item answered before.
    answered = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ("study", "id")
        constraints = (
            models.UniqueConstraint(
                fields=["annotator", "external_id"], condition=~Q(external_id=""), name="assignment_once_per_external"
            ),
            models.UniqueConstraint(
                fields=["annotator"],
                condition=Q(stage__in=["qualification", "test", "complete"]),
                name="assignment_one_live_per_annotator",
            ),
        )

    def __str__(self) -> str:
        return f"assignment #{self.pk} of {self.annotator}"

    def get_absolute_url(self) -> str:
        return reverse("annotation:task", args=[self.token])


class AssignmentItem(models.Model):
    """An item's place in one assignment's sequence, and the opaque token its image is served under."""

    class Phase(models.TextChoices):
        QUALIFICATION = "qualification"
        TEST = "test"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="sequence")
    item = models.ForeignKey(StudyItem, on_delete=models.PROTECT, related_name="assignments")
    position = models.PositiveIntegerField()  # order in the whole sequence
    phase = models.CharField(max_length=16, choices=Phase.choices)
    trial = models.PositiveIntegerField()  # index within its phase: the learning curve's x
    block = models.PositiveIntegerField(default=0)
    token = models.CharField(max_length=64, unique=True, default=secret_token, editable=False)
    exposure_ms = models.PositiveIntegerField(null=True, blank=True)  # fixed when first served (hype_time)
    served_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("assignment", "position")
        constraints = (
            models.UniqueConstraint(fields=["assignment", "item"], name="assignment_item_once"),
            models.UniqueConstraint(fields=["assignment", "position"], name="assignment_position_once"),
        )

    def __str__(self) -> str:
        return f"position {self.position} of assignment #{self.assignment_id}"


class InputKind(models.TextChoices):
    KEY = "key", "a key"
    TAP = "tap", "a tap (touch or pen)"
    CLICK = "click", "a mouse click"


class Judgment(models.Model):
    """An annotator's answer to one assigned item: one at most (the primary key is the assignment item)."""

    assignment_item = models.OneToOneField(
        AssignmentItem, on_delete=models.CASCADE, primary_key=True, related_name="judgment"
    )
    answer_real = models.BooleanField()
    correct = models.BooleanField()
    response_ms = models.PositiveIntegerField()  # measured in the browser, image onset to key press
    feedback_shown = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)
    # How the image was seen and answered, as the browser reports it (blank: not reported): the viewport in CSS
    # pixels and the device pixel ratio give the image's size on screen, which matters in a visual test.
    viewport_width = models.PositiveIntegerField(null=True, blank=True)
    viewport_height = models.PositiveIntegerField(null=True, blank=True)
    device_pixel_ratio = models.FloatField(null=True, blank=True)
    input_kind = models.CharField(max_length=8, choices=InputKind.choices, blank=True)
    # A timed image's presentation as the browser measured it (blank: an untimed image, or a page or script that
    # did not report it). Times are animation-frame timestamps in ms on the page's performance.now() clock; the
    # refresh interval is the page's estimate, and the exposure shown is the stimulus's offset minus its onset.
    refresh_ms = models.FloatField(null=True, blank=True)
    frames_requested = models.PositiveIntegerField(null=True, blank=True)
    frames_shown = models.PositiveIntegerField(null=True, blank=True)
    stimulus_onset_ms = models.FloatField(null=True, blank=True)
    stimulus_offset_ms = models.FloatField(null=True, blank=True)
    mask_onset_ms = models.FloatField(null=True, blank=True)
    mask_offset_ms = models.FloatField(null=True, blank=True)
    exposure_shown_ms = models.FloatField(null=True, blank=True)
    # A frame came more than 1.5 refresh intervals after the one before while the image was on screen.
    dropped_frames = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ("assignment_item",)
        constraints = (
            models.CheckConstraint(
                condition=Q(input_kind__in=["", "key", "tap", "click"]), name="judgment_input_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(device_pixel_ratio__isnull=True) | Q(device_pixel_ratio__gt=0),
                name="judgment_device_pixel_ratio_positive",
            ),
            models.CheckConstraint(
                condition=Q(exposure_shown_ms__isnull=True) | Q(exposure_shown_ms__gte=0),
                name="judgment_exposure_shown_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(refresh_ms__isnull=True) | Q(refresh_ms__gt=0), name="judgment_refresh_ms_positive"
            ),
        )

    def __str__(self) -> str:
        return f"judgment of {self.assignment_item}"
