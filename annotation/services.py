"""Every write of the human studies, shared by the annotator's views and API, admin actions and commands.

Researchers' verbs (create_study, edit_study, delete_study, set_study_pool, remove_study_pool,
add_attention_items, remove_attention_item, open_study, close_study) raise ``ServiceError`` with a message
for the researcher. Annotators' verbs (start_assignment, next_item and current_state, record_judgment and
answer, finish_assignment) raise ``Refused`` with a message for the annotator and an HTTP status; the task
page's API runs current_state, answer and image_file, a few statements each (see "The annotator's hot path").

Two locks keep the numbers right. Every draw (a start, the test drawn after a qualification is passed, the
repair of a sequence whose reservation lapsed) locks the study's row and takes only images still missing
judgments, so that annotators drawing together cannot both take the last judgment an image needs. Answering
locks the assignment's row, so that a double submit is answered in turn: the second finds the item answered and
is refused, and the judgment's primary key (the assignment item) refuses it again should anything get past the
lock. The rare paths that need both take the assignment's first, then the study's.

Identity: an existing assignment goes back only to proof of the same session (start_assignment's ``proof`` and
the platform's assignment id; views._returning); a worker id alone, which anyone can type, never changes a live
assignment.
"""

from __future__ import annotations

import functools
import random
import re
import weakref
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, Count, ExpressionWrapper, F, Max, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotation import images, readiness
from annotation.models import (
    Annotator,
    Assignment,
    AssignmentItem,
    Judgment,
    Study,
    StudyItem,
    StudyPool,
    secret_token,
)
from annotation.protocols import get_protocol, qualification
from annotation.protocols.sequence import apportion, arrange, independent_counts, shuffle_blocks
from runs.models import ImagePool, JobStatus

LIVE_STAGES = (Assignment.Stage.QUALIFICATION, Assignment.Stage.TEST, Assignment.Stage.COMPLETE)
ANSWERING_STAGES = (Assignment.Stage.QUALIFICATION, Assignment.Stage.TEST)
# The study settings a researcher chooses; the rest of a study's row is its state.
STUDY_SETTINGS = (
    "name",
    "title",
    "instructions",
    "consent_text",
    "protocol",
    "feedback",
    "feedback_ms",
    "real_fraction",
    "items_per_assignment",
    "block_size",
    "judgments_per_item",
    "attention_per_assignment",
    "require_qualification",
    "qualification_items",
    "qualification_threshold",
    "max_assignments_per_annotator",
    "completion_code",
    "mixed_datasets_reason",
)
# Wording shown as it is: an open study's annotators must all have read the same.
FROZEN_WHEN_OPENED = tuple(name for name in STUDY_SETTINGS if name not in ("name",))
MAX_RESPONSE_MS = 3_600_000
MAX_FEEDBACK_MS = 60_000
# turkSubmitTo is a query parameter anyone can forge: the end of a HIT posts only to MTurk itself.
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete"
TIE_PRIME = 2_147_483_647  # 2**31 - 1: ids reduced modulo it, times a factor below it, stay within 64 bits


class ServiceError(Exception):
    """A researcher's request the study's state does not allow; the message says what and why."""


class Refused(Exception):
    """An annotator's request that is not allowed; the message is for the annotator."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


# --- Researchers -------------------------------------------------------------------------------------


def study_settings_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Each setting that cannot work, with the reason (empty when all can): for forms and services alike."""
    errors: dict[str, str] = {}
    protocol_name = values.get("protocol", Study.Protocol.SALIMANS)
    if protocol_name not in Study.Protocol.values:
        return {"protocol": f"unknown protocol {protocol_name!r}"}
    errors.update(get_protocol(protocol_name).violations(values))
    real_fraction = values.get("real_fraction", 0.5)
    if not 0 < real_fraction < 1:
        errors["real_fraction"] = "must be strictly between 0 and 1: a study needs real and generated images"
    for name in ("items_per_assignment", "judgments_per_item", "max_assignments_per_annotator"):
        if name in values and values[name] < 1:
            errors[name] = "must be at least 1"
    block_size = values.get("block_size")
    if block_size is not None and not 1 <= block_size <= values.get("items_per_assignment", block_size):
        errors["block_size"] = "must be between 1 and the items per assignment"
    if values.get("require_qualification") and values.get("qualification_items", 100) < 2:
        errors["qualification_items"] = "a qualification needs at least one real and one generated image"
    if not 0 <= values.get("qualification_threshold", 0.65) <= 1:
        errors["qualification_threshold"] = "must be a fraction between 0 and 1"
    if not 0 <= values.get("feedback_ms", 0) <= MAX_FEEDBACK_MS:
        errors["feedback_ms"] = f"must be between 0 (until the annotator goes on) and {MAX_FEEDBACK_MS} ms"
    return errors


def _check_settings(values: Mapping[str, Any]) -> None:
    errors = study_settings_errors(values)
    if errors:
        raise ServiceError("; ".join(f"{name}: {message}" for name, message in errors.items()))


def _locked_study(study: Study) -> Study:
    return Study.objects.select_for_update().get(pk=study.pk)


def create_study(*, name: str, protocol: str = Study.Protocol.SALIMANS, user: Any = None, **values: Any) -> Study:
    """A draft study with the protocol's standard settings, overridden by ``values`` (``STUDY_SETTINGS``)."""
    unknown = set(values) - set(STUDY_SETTINGS)
    if unknown:
        raise ServiceError(f"unknown study settings: {', '.join(sorted(unknown))}")
    if protocol not in Study.Protocol.values:
        raise ServiceError(f"unknown protocol {protocol!r}; choose one of {', '.join(Study.Protocol.values)}")
    chosen = {**get_protocol(protocol).defaults(), **values, "name": name, "protocol": protocol}
    _check_settings(_effective(Study(), chosen))
    return Study.objects.create(**chosen, created_by=user if user is not None and user.is_authenticated else None)


def _effective(study: Study, values: Mapping[str, Any]) -> dict[str, Any]:
    return {**{name: getattr(study, name) for name in STUDY_SETTINGS}, **values}


def edit_study(study: Study, **values: Any) -> Study:
    """Change a study's settings. Once opened only its name may change: its annotators read the rest."""
    unknown = set(values) - set(STUDY_SETTINGS)
    if unknown:
        raise ServiceError(f"unknown study settings: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        study = _locked_study(study)
        changed = {name: value for name, value in values.items() if getattr(study, name) != value}
        frozen = sorted(set(changed) & set(FROZEN_WHEN_OPENED))
        if frozen and study.status != Study.Status.DRAFT:
            raise ServiceError(f"study #{study.pk} is {study.status}: {', '.join(frozen)} can change only in a draft")
        _check_settings(_effective(study, changed))
        for name, value in changed.items():
            setattr(study, name, value)
        if changed:
            study.save(update_fields=list(changed))
    return study


def delete_study(study: Study) -> None:
    """Delete a draft; a study that was ever opened keeps its record (close it instead)."""
    with transaction.atomic():
        study = _locked_study(study)
        _require_draft(study, "deletion")
        study.delete()


def set_study_pool(
    study: Study,
    pool: ImagePool,
    *,
    label: str = "",
    top_percent: float | None = None,
    weight: float = 1.0,
    max_items: int | None = None,
) -> StudyPool:
    """Add a pool to a draft study, or change how the study draws from it."""
    if weight <= 0:
        raise ServiceError("weight: must be positive")
    if top_percent is not None and not 0 < top_percent <= 100:
        raise ServiceError("top_percent: must be in (0, 100]")
    if top_percent is not None and pool.kind != ImagePool.Kind.GENERATED:
        raise ServiceError(f"{pool}: a top percentage by Inception Score applies to generated pools only")
    with transaction.atomic():
        study = _locked_study(study)
        _require_draft(study, "its pools")
        study_pool, _ = StudyPool.objects.update_or_create(
            study=study,
            pool=pool,
            defaults={"label": label, "top_percent": top_percent, "weight": weight, "max_items": max_items},
        )
    return study_pool


def remove_study_pool(study_pool: StudyPool) -> None:
    with transaction.atomic():
        _require_draft(_locked_study(study_pool.study), "its pools")
        study_pool.delete()


def _require_draft(study: Study, what: str) -> None:
    if study.status != Study.Status.DRAFT:
        raise ServiceError(f"study #{study.pk} is {study.status}: {what} can change only in a draft")


def add_attention_items(study: Study, pool: ImagePool, files: Sequence[str] = (), *, count: int | None = None) -> int:
    """Make images of ``pool`` attention checks of ``study``: obvious cases, whose truth is the pool's kind.
    The images are those named in ``files``, or ``count`` of the pool's images not yet in the study, at random.
    Returns how many were added; an image that already has a role in the study is refused."""
    listed = [image.file for image in _manifest(pool)]
    with transaction.atomic():
        study = _locked_study(study)
        if study.status == Study.Status.CLOSED:
            raise ServiceError(f"study #{study.pk} is closed")
        taken = set(StudyItem.objects.filter(study=study, pool=pool).values_list("file", flat=True))
        if count is not None:
            free = [name for name in listed if name not in taken]
            if count > len(free):
                raise ServiceError(f"{pool}: {len(free)} images are not in the study yet, fewer than {count}")
            files = random.Random(f"{study.seed}:attention:{pool.pk}:{len(taken)}").sample(free, count)
        files = list(dict.fromkeys(files))
        if not files:
            raise ServiceError("name at least one image of the pool, or give a count")
        missing = sorted(set(files) - set(listed))
        if missing:
            raise ServiceError(f"{pool}: no image named {', '.join(missing[:5])} in its manifest")
        already = sorted(set(files) & taken)
        if already:
            raise ServiceError(f"{', '.join(already[:5])}: already in study #{study.pk}")
        truth = pool.kind == ImagePool.Kind.REAL
        added = StudyItem.objects.bulk_create(
            StudyItem(study=study, pool=pool, file=name, truth_real=truth, purpose=StudyItem.Purpose.ATTENTION)
            for name in files
        )
        if study.status == Study.Status.OPEN:
            _encode(study, added)  # a draft's images are all encoded when it opens
    return len(files)


def remove_attention_item(item: StudyItem) -> None:
    """Take an attention check out of a study; one already shown to somebody stays, with its judgments."""
    with transaction.atomic():
        item = StudyItem.objects.select_for_update().get(pk=item.pk, purpose=StudyItem.Purpose.ATTENTION)
        if item.assignments.exists():
            raise ServiceError(f"attention item #{item.pk} has been shown already; it stays with its judgments")
        item.delete()


def _manifest(pool: ImagePool) -> list[images.PoolImage]:
    if pool.status != JobStatus.DONE:
        raise ServiceError(f"{pool} is {pool.status}: only a finished pool can be shown")
    try:
        return images.read_manifest(pool)
    except images.ImageError as exc:
        raise ServiceError(str(exc)) from None


def _encode(study: Study, items: Sequence[StudyItem]) -> None:
    """Write the study's copy of each item's image with the one encoder (images.encode_study_images), in the mode
    of the images it serves already, if any."""
    served = StudyItem.objects.filter(study=study).exclude(pk__in=[item.pk for item in items]).first()
    try:
        mode = images.study_mode(study.public_id, served.pk) if served is not None else None
        sources = [images.Source(item.pk, images.image_path(item.pool, item.file), str(item.pool)) for item in items]
        images.encode_study_images(study.public_id, sources, mode=mode)
    except images.ImageError as exc:
        raise ServiceError(str(exc)) from None


def open_study(study: Study, *, user: Any = None) -> Study:
    """Open a draft (its items are drawn from its pools now) or reopen a closed study."""
    with transaction.atomic():
        study = _locked_study(study)
        if study.status == Study.Status.OPEN:
            raise ServiceError(f"study #{study.pk} is already open")
        if study.status == Study.Status.DRAFT:
            _check_settings(_effective(study, {}))
            problems = readiness.problems(study)
            if problems:
                raise ServiceError(f"study #{study.pk} cannot open: " + "; ".join(map(str, problems)))
            _build_items(study)
            study.opened_at = timezone.now()
        study.status = Study.Status.OPEN
        study.closed_at = None
        study.save(update_fields=["status", "opened_at", "closed_at"])
    return study


def close_study(study: Study, *, user: Any = None) -> Study:
    """Stop taking annotators; those in the middle of their sequence may finish it."""
    with transaction.atomic():
        study = _locked_study(study)
        if study.status != Study.Status.OPEN:
            raise ServiceError(f"study #{study.pk} is {study.status}: only an open study can be closed")
        study.status = Study.Status.CLOSED
        study.closed_at = timezone.now()
        study.save(update_fields=["status", "closed_at"])
    return study


def _build_items(study: Study) -> None:
    """The study's test and qualification items, from its pools (top k% and subsets applied)."""
    pools = list(study.study_pools.select_related("pool"))
    real = [sp for sp in pools if sp.pool.kind == ImagePool.Kind.REAL]
    generated = [sp for sp in pools if sp.pool.kind == ImagePool.Kind.GENERATED]
    if not real or not generated:
        raise ServiceError(f"study #{study.pk} needs a real pool and at least one generated pool")
    rng = random.Random(study.seed)
    attention = set(
        StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.ATTENTION).values_list("pool_id", "file")
    )
    if len(attention) < study.attention_per_assignment:
        raise ServiceError(
            f"study #{study.pk} shows {study.attention_per_assignment} attention checks per assignment but has "
            f"{len(attention)}: add them on the attention items page"
        )
    candidates: dict[int, list[images.PoolImage]] = {}
    for sp in pools:
        chosen = [image for image in _manifest(sp.pool) if (sp.pool_id, image.file) not in attention]
        if sp.top_percent is not None:
            if any(image.inception_kl is None for image in chosen):
                raise ServiceError(f"{sp.pool}: its manifest has no per-image Inception Score; score the pool first")
            chosen.sort(key=lambda image: -image.inception_kl)  # type: ignore[operator]
            chosen = chosen[: max(1, round(len(chosen) * sp.top_percent / 100))]
        if sp.max_items is not None and sp.max_items < len(chosen):
            chosen = rng.sample(chosen, sp.max_items)
        rng.shuffle(chosen)
        candidates[sp.pool_id] = chosen
    qualifying: dict[int, list[images.PoolImage]] = defaultdict(list)
    if study.require_qualification:
        n_real, n_generated = qualification.split(study.qualification_items)
        for group, total in ((real, n_real), (generated, n_generated)):
            for sp, count in zip(group, apportion(total, [sp.weight for sp in group]), strict=True):
                qualifying[sp.pool_id] = candidates[sp.pool_id][:count]
                candidates[sp.pool_id] = candidates[sp.pool_id][count:]
    for sp, quota in _quotas(study, pools).items():
        if len(candidates[sp.pool_id]) < quota:
            raise ServiceError(
                f"{sp.name}: {len(candidates[sp.pool_id])} images left for testing, but each assignment takes {quota}"
            )
    by_pool = {sp.pool_id: sp.pool for sp in pools}
    rows = [
        StudyItem(
            study=study,
            pool=by_pool[pool_id],
            file=image.file,
            truth_real=by_pool[pool_id].kind == ImagePool.Kind.REAL,
            purpose=purpose,
            inception_kl=image.inception_kl,
        )
        for purpose, groups in ((StudyItem.Purpose.TEST, candidates), (StudyItem.Purpose.QUALIFICATION, qualifying))
        for pool_id, chosen in groups.items()
        for image in chosen
    ]
    StudyItem.objects.bulk_create(rows, batch_size=2000)
    _encode(study, list(StudyItem.objects.filter(study=study).select_related("pool")))


def _quotas(study: Study, pools: Sequence[StudyPool]) -> dict[StudyPool, int]:
    """Test images per assignment from each pool: the real fraction, then each kind shared by weight."""
    n_real = round(study.items_per_assignment * study.real_fraction)
    quotas: dict[StudyPool, int] = {}
    for kind, total in ((ImagePool.Kind.REAL, n_real), (ImagePool.Kind.GENERATED, study.items_per_assignment - n_real)):
        group = [sp for sp in pools if sp.pool.kind == kind]
        quotas.update(zip(group, apportion(total, [sp.weight for sp in group]), strict=True))
    return quotas


# --- Annotators -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """Who arrives through an entry link, as the platform says."""

    platform: str
    worker_id: str
    assignment_id: str = ""  # MTurk assignmentId, Prolific SESSION_ID
    group: str = ""  # MTurk hitId, Prolific STUDY_ID
    submit_to: str = ""  # MTurk turkSubmitTo


@dataclass(frozen=True)
class Outcome:
    """What an annotator learns from an answer: that it is stored, and the truth only with feedback."""

    stage: str
    feedback: bool
    correct: bool | None = None
    truth_real: bool | None = None


@dataclass(frozen=True)
class Completion:
    """How an assignment ends: MTurk's form post, Prolific's redirect, or a code to show."""

    kind: str  # "mturk", "prolific" or "code"
    code: str
    url: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    disqualified: bool = False


def start_assignment(study: Study, entry: Entry, *, proof: str = "") -> Assignment:
    """The annotator's assignment for this entry: the same one again when they come back with the same MTurk
    assignment or Prolific session (or, on an invitation link, the same browser session), or a new one with its
    sequence drawn. ``proof``: the token of the assignment the browser holds (its signed cookie), the only thing
    that lets a new platform assignment replace an unfinished one; a worker id alone never touches a live
    assignment, since anyone can type it."""
    if entry.platform not in Annotator.Platform.values or not entry.worker_id:
        raise Refused("This link is incomplete: open the study from the link you were given.", 400)
    if entry.submit_to and entry.submit_to.rstrip("/") not in MTURK_SUBMIT_HOSTS:
        raise Refused("This link's turkSubmitTo is not Mechanical Turk's.", 400)
    with transaction.atomic():
        study = _locked_study(study)
        if not study.is_open:
            raise Refused("This study is not taking part now.", 410)
        annotator = Annotator.objects.filter(
            study=study, platform=entry.platform, external_id=entry.worker_id
        ).first() or _new_annotator(study, entry)
        if entry.assignment_id:
            existing = annotator.assignments.filter(external_id=entry.assignment_id).first()
            if existing is not None:
                return existing
        live = annotator.assignments.filter(stage__in=LIVE_STAGES).first()
        if live is not None:
            held = bool(proof) and proof == live.token
            if entry.platform == Annotator.Platform.INVITE or (held and not entry.assignment_id):
                return live  # an invitation's worker id is its browser session: proof enough
            if not (held and entry.assignment_id):
                raise Refused(
                    "You have an unfinished assignment of this study: go back to it in the browser where you began "
                    "it, or from the platform's link to it.",
                    409,
                )
        if annotator.qualification == Annotator.Qualification.FAILED:
            raise Refused("You did not pass this study's qualification, so it has no more images for you.", 403)
        submitted = annotator.assignments.filter(stage=Assignment.Stage.SUBMITTED).count()
        if submitted >= study.max_assignments_per_annotator:
            raise Refused("You have already taken part in this study: thank you.", 403)
        if _study_full(study):
            raise Refused("This study has all the judgments it needs: thank you.", 410)
        now = timezone.now()
        if live is not None:
            # A new platform assignment from the browser that holds the unfinished older one (a returned HIT):
            # the older one's unanswered images go back to the others; its answers stay.
            live.stage, live.finished_at = Assignment.Stage.ABANDONED, now
            live.save(update_fields=["stage", "finished_at"])
        assignment = Assignment.objects.create(
            study=study,
            annotator=annotator,
            external_id=entry.assignment_id,
            external_group=entry.group,
            submit_to=entry.submit_to.rstrip("/"),
            stage=Assignment.Stage.QUALIFICATION
            if annotator.qualification == Annotator.Qualification.PENDING
            else Assignment.Stage.TEST,
            exposure_ms=get_protocol(study.protocol).first_exposure(),
            active_at=now,
        )
        if assignment.stage == Assignment.Stage.QUALIFICATION:
            _draw_qualification(study, assignment)
        else:
            _draw_test(study, assignment)
    return assignment


def _new_annotator(study: Study, entry: Entry) -> Annotator:
    if study.feedback == Study.Feedback.RANDOMISED:
        # Balanced randomisation: the smaller arm takes the newcomer, a coin decides between equal arms. Arms
        # count those who take part (_engaged), not those who left before their first judgment.
        arms = dict(study.annotators.filter(_engaged()).values_list("feedback").annotate(n=Count("id", distinct=True)))
        with_feedback, without = arms.get(True, 0), arms.get(False, 0)
        feedback = with_feedback < without if with_feedback != without else random.random() < 0.5
    else:
        feedback = study.feedback == Study.Feedback.EACH
    return Annotator.objects.create(
        study=study,
        platform=entry.platform,
        external_id=entry.worker_id,
        feedback=feedback,
        qualification=Annotator.Qualification.PENDING
        if study.require_qualification
        else Annotator.Qualification.NOT_REQUIRED,
    )


def _rng(study: Study, assignment: Assignment, phase: str) -> random.Random:
    """The draw of one phase of one assignment: reproducible from the study's seed."""
    return random.Random(f"{study.seed}:{assignment.pk}:{phase}")


def reservation_cutoff() -> Any:
    """Sequences idle since before this have let their unanswered images go."""
    return timezone.now() - timedelta(minutes=settings.ANNOTATION_RESERVATION_MINUTES)


def _engaged() -> Q:
    """Annotators who take part: a test judgment given, a sequence being answered (its reservation not lapsed),
    or one submitted. Those who left at 0 judgments are not."""
    return (
        Q(assignments__stage=Assignment.Stage.SUBMITTED)
        | Q(assignments__stage__in=LIVE_STAGES, assignments__active_at__gte=reservation_cutoff())
        | Q(assignments__sequence__phase=AssignmentItem.Phase.TEST, assignments__sequence__judgment__isnull=False)
    )


def _allocated() -> Count:
    """Per test item: its judgments, plus the places reserved for it in sequences still being answered."""
    cutoff = reservation_cutoff()
    return Count(
        "assignments",
        filter=Q(assignments__judgment__isnull=False)
        | Q(assignments__assignment__stage=Assignment.Stage.TEST, assignments__assignment__active_at__gte=cutoff),
    )


def _test_items(study: Study) -> QuerySet[StudyItem]:
    return StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.TEST)


def _study_full(study: Study) -> bool:
    return (
        not _test_items(study).annotate(allocated=_allocated()).filter(allocated__lt=study.judgments_per_item).exists()
    )


def _draw_qualification(study: Study, assignment: Assignment) -> None:
    items = list(
        StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.QUALIFICATION).values_list("pk", flat=True)
    )
    _rng(study, assignment, AssignmentItem.Phase.QUALIFICATION).shuffle(items)
    _append(assignment, [items], AssignmentItem.Phase.QUALIFICATION)


def _draw_test(study: Study, assignment: Assignment) -> None:
    """The test sequence: from each pool, up to its quota of the least-judged images that still miss judgments
    and that this annotator has not seen, attention checks mixed in. Without feedback each pool takes its exact
    quota, spread over balanced shuffled blocks; with feedback each place draws its pool on its own
    (protocols.sequence: revealed truths must not tell the next). The caller holds the study's lock, so that
    concurrent draws cannot take the same missing judgments. Refused when nothing is left to draw."""
    rng = _rng(study, assignment, AssignmentItem.Phase.TEST)
    pools = list(study.study_pools.select_related("pool"))
    quotas = _quotas(study, pools)
    feedback = assignment.annotator.feedback
    if feedback:
        counts = independent_counts(sum(quotas.values()), _shares(study, list(quotas)), rng)
        quotas = dict(zip(quotas, counts, strict=True))
    seen = AssignmentItem.objects.filter(assignment__annotator_id=assignment.annotator_id).values("item_id")
    by_pool = _missing(study, quotas, seen, rng)
    strata = [by_pool[sp.pool_id] for sp in quotas]
    if not any(strata):
        if _study_full(study):
            raise Refused("This study has all the judgments it needs: thank you.", 410)
        raise Refused("This study has no more new images for you: thank you.", 410)
    attention = list(
        StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.ATTENTION)
        .exclude(pk__in=seen)
        .values_list("pk", flat=True)
    )
    checks = rng.sample(attention, min(len(attention), study.attention_per_assignment))
    order = shuffle_blocks if feedback else arrange
    _append(assignment, order(strata, study.block_size, checks, rng), AssignmentItem.Phase.TEST)


def _shares(study: Study, pools: Sequence[StudyPool]) -> list[float]:
    """Each pool's probability of a place: the real fraction (or its complement) shared by weight."""
    shares = []
    for sp in pools:
        kind = [other.weight for other in pools if other.pool.kind == sp.pool.kind]
        part = study.real_fraction if sp.pool.kind == ImagePool.Kind.REAL else 1 - study.real_fraction
        shares.append(part * sp.weight / sum(kind))
    return shares


def _missing(
    study: Study, quotas: Mapping[StudyPool, int], seen: QuerySet, rng: random.Random, *, exclude: Sequence[int] = ()
) -> dict[int, list[int]]:
    """Up to each pool's quota of its test images that still miss judgments (taken or reserved), unseen and not
    in ``exclude``, the least allocated first. The database ranks them and sends only the quota, so that a draw
    costs the same few rows of Python however large the study. Ties go by an affine permutation of the ids modulo
    a prime, its factors drawn from the draw's seed: random and reproducible, and integers sort fast."""
    factor, shift = rng.randrange(1, TIE_PRIME), rng.randrange(TIE_PRIME)
    tie = ExpressionWrapper((F("pk") % TIE_PRIME * factor + shift) % TIE_PRIME, output_field=BigIntegerField())
    rank = Window(RowNumber(), partition_by=F("pool_id"), order_by=[F("allocated").asc(), tie.asc(), F("pk").asc()])
    quota = Case(*(When(pool_id=sp.pool_id, then=Value(n)) for sp, n in quotas.items()), default=Value(0))
    rows = (
        _test_items(study)
        .exclude(pk__in=seen)
        .exclude(pk__in=list(exclude))
        .annotate(allocated=_allocated())
        .filter(allocated__lt=study.judgments_per_item)
        .annotate(rank=rank, quota=quota)
        .filter(rank__lte=F("quota"))
        .order_by()
        .values_list("pool_id", "pk")
    )
    by_pool: dict[int, list[int]] = defaultdict(list)
    for pool_id, pk in sorted(rows):
        by_pool[pool_id].append(pk)
    return by_pool


def _append(assignment: Assignment, blocks: list[list[int]], phase: str) -> None:
    start = assignment.sequence.count()
    order = [(block, item) for block, items in enumerate(blocks) for item in items]
    AssignmentItem.objects.bulk_create(
        AssignmentItem(
            assignment=assignment, item_id=item, position=start + trial, phase=phase, trial=trial, block=block
        )
        for trial, (block, item) in enumerate(order)
    )


# --- The annotator's hot path ------------------------------------------------------------------------
# Every judgment runs the few statements below: an answer locks its assignment, reads the items ahead, stores
# the judgment, moves the assignment and serves the next item, all in one transaction, and its response
# carries the next state; a state request reads the assignment and the items ahead; an image, one row. With
# the ORM, compiling these querysets anew for each request took about a quarter of the server's CPU per
# judgment and building model instances much of the rest, so they are plain SQL, the same for PostgreSQL and
# SQLite (tests/annotation passes on either: TEST_DATABASE_URL=sqlite:////tmp/t.sqlite3). The ORM stays the
# default everywhere else, including each rare branch here: refusals, the end of a qualification, progress
# once nothing is left to answer.


class _Assignment(NamedTuple):
    """The columns of an assignment (and of its study and annotator) that an answer or a state needs."""

    id: int
    stage: str
    exposure_ms: int | None
    active_at: Any
    finished_at: Any
    answered: int
    protocol: str
    feedback: bool


class _Item(NamedTuple):
    """An assigned item, with its study item's truth (never sent to the browser)."""

    id: int
    token: str
    position: int
    phase: str
    trial: int
    block: int
    exposure_ms: int | None
    served: bool
    truth_real: bool


class Display(NamedTuple):
    """How an image was seen and answered, as the browser reports it (None, "": not reported); in the order of
    the judgment's columns."""

    viewport_width: int | None = None
    viewport_height: int | None = None
    device_pixel_ratio: float | None = None
    input_kind: str = ""
    # A timed image's presentation, as the page measured it with animation frames (task.js, present).
    refresh_ms: float | None = None
    frames_requested: int | None = None
    frames_shown: int | None = None
    stimulus_onset_ms: float | None = None
    stimulus_offset_ms: float | None = None
    mask_onset_ms: float | None = None
    mask_offset_ms: float | None = None
    dropped_frames: bool | None = None

    @property
    def exposure_shown_ms(self) -> float | None:
        """How long the image was on screen: its offset minus its onset (None: not measured)."""
        if self.stimulus_onset_ms is None or self.stimulus_offset_ms is None:
            return None
        return self.stimulus_offset_ms - self.stimulus_onset_ms


NO_DISPLAY = Display()


@dataclass(frozen=True)
class Shown:
    """The current image, as the task page may know it: its token, its block and its exposure."""

    token: str
    block: int
    exposure_ms: int | None


@dataclass(frozen=True)
class Progress:
    """Where an assignment stands: its stage, the phase's progress, and the image to judge now (if any)."""

    stage: str
    phase: str
    done: int  # answered in this phase
    total: int  # items of this phase
    answered: int  # answered in the whole sequence
    blocks: int
    item: Shown | None


@functools.cache
def _statements(vendor: str) -> dict[str, str]:
    """The statements for this database vendor (the lock's clause depends on its features)."""
    names = {
        "assignment": Assignment._meta.db_table,
        "item": AssignmentItem._meta.db_table,
        "study_item": StudyItem._meta.db_table,
        "judgment": Judgment._meta.db_table,
        "study": Study._meta.db_table,
        "annotator": Annotator._meta.db_table,
    }
    assignment = (
        "SELECT a.id, a.stage, a.exposure_ms, a.active_at, a.finished_at, a.answered, s.protocol, n.feedback "
        "FROM {assignment} a JOIN {study} s ON s.id = a.study_id JOIN {annotator} n ON n.id = a.annotator_id "
        "WHERE a.token = %s"
    )
    columns = "ai.id, ai.token, ai.position, ai.phase, ai.trial, ai.block, ai.exposure_ms"
    statements = {
        "assignment": assignment,
        # The answer's lock: concurrent answers of one assignment (a double submit) are taken in turn.
        "lock": assignment + (" FOR UPDATE OF a" if connection.features.has_select_for_update_of else ""),
        # Three items from the assignment's count of answers on (the current item, the next, and one more should
        # an answer have come in between), whether each is answered, then the sequence's last item, whose trial
        # and block give the phase's size: a phase is appended whole and answered last (see _progress). By
        # position, not by looking for unanswered items, which took longer the further an assignment was.
        "ahead": (
            f"SELECT 0, {columns}, CASE WHEN ai.served_at IS NULL THEN 0 ELSE 1 END, si.truth_real, "
            "(SELECT COUNT(*) FROM {judgment} j WHERE j.assignment_item_id = ai.id) "
            "FROM {item} ai JOIN {study_item} si ON si.id = ai.item_id "
            "WHERE ai.assignment_id = %s AND ai.position BETWEEN %s AND %s "
            f"UNION ALL SELECT 1, last.* FROM (SELECT {columns}, 0, 1 = 0, 0 FROM {{item}} ai "
            "WHERE ai.assignment_id = %s ORDER BY ai.position DESC LIMIT 1) last"
        ),
        "judge": (
            "INSERT INTO {judgment} (assignment_item_id, answer_real, correct, response_ms, feedback_shown, "
            "created_at, viewport_width, viewport_height, device_pixel_ratio, input_kind, refresh_ms, "
            "frames_requested, frames_shown, stimulus_onset_ms, stimulus_offset_ms, mask_onset_ms, mask_offset_ms, "
            "dropped_frames, exposure_shown_ms) "
            f"VALUES ({', '.join(['%s'] * 19)})"
        ),
        "advance": (
            "UPDATE {assignment} SET exposure_ms = %s, active_at = %s, stage = %s, finished_at = %s, answered = %s "
            "WHERE id = %s"
        ),
        # First serve wins: a second tab serving at the same moment must not change the exposure.
        "serve": "UPDATE {item} SET served_at = %s, exposure_ms = %s WHERE id = %s AND served_at IS NULL",
        "served": "SELECT exposure_ms FROM {item} WHERE id = %s",
        "image": (
            "SELECT s.public_id, ai.item_id FROM {item} ai JOIN {study_item} si ON si.id = ai.item_id "
            "JOIN {study} s ON s.id = si.study_id WHERE ai.token = %s AND ai.served_at IS NOT NULL"
        ),
    }
    return {name: statement.format(**names) for name, statement in statements.items()}


# Statements PostgreSQL plans once per connection rather than at every request: planning took longer than
# running them (pg_stat_statements under bench/annotation_load.py). Each finds its rows by a unique key, so the
# one plan is right whatever the values; "ahead" is planned each time, for the values and the tables' sizes.
PREPARED = frozenset({"assignment", "lock", "judge", "advance", "serve", "served", "image"})
# Those prepared on each open connection (a new connection, after a failure or CONN_MAX_AGE, prepares again).
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _run(cursor: Any, name: str, params: list[Any]) -> None:
    """Run one of the statements above; on PostgreSQL those of PREPARED by name, once prepared (a prepared
    statement lasts as long as its connection, rolled back transactions included: a pooler in transaction mode,
    such as PgBouncer's, would need them off). SQLite keeps a cache of its statements by itself."""
    sql = _statements(connection.vendor)[name]
    if connection.vendor != "postgresql" or name not in PREPARED:
        cursor.execute(sql, params)
        return
    prepared = _prepared.setdefault(connection.connection, set())
    if name not in prepared:
        numbered = iter(range(1, len(params) + 1))
        cursor.execute(f"PREPARE annotation_{name} AS " + re.sub("%s", lambda _: f"${next(numbered)}", sql))
        prepared.add(name)
    cursor.execute(f"EXECUTE annotation_{name}({', '.join(['%s'] * len(params))})", params)


def _datetime(value: Any) -> Any:
    """A timestamp as the ORM would read it: SQLite's raw cursor gives it naive (or as text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, connection.timezone)
    return value


def _fetch_assignment(cursor: Any, token: str, *, lock: bool = False) -> _Assignment:
    _run(cursor, "lock" if lock else "assignment", [token])
    row = cursor.fetchone()
    if row is None:
        raise Assignment.DoesNotExist(f"no assignment with token {token!r}")
    pk, stage, exposure_ms, active_at, finished_at, answered, protocol, feedback = row
    return _Assignment(
        pk, stage, exposure_ms, _datetime(active_at), _datetime(finished_at), answered, protocol, bool(feedback)
    )


def _ahead(cursor: Any, assignment: _Assignment) -> tuple[list[_Item], _Item | None]:
    """The first unanswered items in order (the current one and the next at least, unless the sequence ends), and
    the sequence's last item (None: no sequence)."""
    start, ahead, last = assignment.answered, [], None
    while True:
        _run(cursor, "ahead", [assignment.id, start, start + 2, assignment.id])
        rows = cursor.fetchall()
        read = 0
        for kind, pk, token, position, phase, trial, block, exposure, served, truth, judged in rows:
            if kind == 1:
                last = _Item(pk, token, position, phase, trial, block, exposure, False, False)
                continue
            read += 1
            start = max(start, position + 1)
            if not judged:
                served, truth = bool(served), bool(truth)
                ahead.append(_Item(pk, token, position, phase, trial, block, exposure, served, truth))
        # Only a count of answers behind (a caller's old copy of the assignment, or answers that came in meanwhile)
        # reads on; the sequence's end stops it.
        if len(ahead) >= 2 or read < 3:
            ahead.sort(key=lambda item: item.position)
            return ahead, last


def _serve(cursor: Any, assignment: _Assignment, item: _Item) -> int | None:
    """Mark the item served, if it is not yet, and return its exposure: fixed the first time it is served
    (the staircase's current value in a timed protocol's test phase)."""
    if item.served:
        return item.exposure_ms
    timed = get_protocol(assignment.protocol).timed and item.phase == AssignmentItem.Phase.TEST
    exposure_ms = assignment.exposure_ms if timed else None
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    _run(cursor, "serve", [now, exposure_ms, item.id])
    if cursor.rowcount == 0:  # served meanwhile by another request: its exposure stands
        _run(cursor, "served", [item.id])
        (exposure_ms,) = cursor.fetchone()
    return exposure_ms


def _progress(
    cursor: Any, assignment: _Assignment, ahead: list[_Item] | None = None, last: _Item | None = None
) -> Progress:
    """The assignment's state, its current item served (``ahead`` and ``last``: as ``_ahead`` read them, if it
    did already). Items are answered in order only (the current one is the first unanswered), positions and
    trials count from 0 without gaps, a phase is drawn whole (the test phase only once the qualification is
    over) and its blocks follow each other: so the current item's position is the number answered, its trial
    the number answered in its phase, and the sequence's last item tells the phase's size and blocks. The
    database counts them instead when no item is left to answer (or should the last item be of another phase)."""
    if assignment.stage not in ANSWERING_STAGES:
        return _counted_progress(assignment, AssignmentItem.Phase.TEST, None)
    if ahead is None:
        ahead, last = _ahead(cursor, assignment)
    if not ahead:
        return _counted_progress(assignment, AssignmentItem.Phase.TEST, None)
    current = ahead[0]
    shown = Shown(token=current.token, block=current.block, exposure_ms=_serve(cursor, assignment, current))
    if last is None or last.phase != current.phase:
        return _counted_progress(assignment, current.phase, shown)
    return Progress(
        stage=assignment.stage,
        phase=current.phase,
        done=current.trial,
        total=last.trial + 1,
        answered=current.position,
        blocks=last.block + 1,
        item=shown,
    )


def _counted_progress(assignment: _Assignment, phase: str, item: Shown | None) -> Progress:
    in_phase = Q(phase=phase)
    counts = AssignmentItem.objects.filter(assignment_id=assignment.id).aggregate(
        total=Count("pk", filter=in_phase),
        done=Count("judgment", filter=in_phase),
        blocks=Max("block", filter=in_phase),
        answered=Count("judgment"),
    )
    return Progress(
        stage=assignment.stage,
        phase=phase,
        done=counts["done"],
        total=counts["total"],
        answered=counts["answered"],
        blocks=(counts["blocks"] or 0) + 1,
        item=item,
    )


def current_state(token: str) -> Progress:
    """The state of the assignment whose token this is, its current item served (fixing its exposure).
    ``Assignment.DoesNotExist`` when no assignment has the token."""
    with connection.cursor() as cursor:
        assignment = _fetch_assignment(cursor, token)
        if _lapsed(assignment):
            # Back after the reservation lapsed: the sequence is repaired before an image is shown.
            with transaction.atomic():
                assignment = _fetch_assignment(cursor, token, lock=True)
                if _lapsed(assignment):
                    _reclaim(assignment.id, timezone.now())
                    assignment = _fetch_assignment(cursor, token)
        return _progress(cursor, assignment)


def _lapsed(assignment: _Assignment) -> bool:
    return assignment.stage == Assignment.Stage.TEST and assignment.active_at < reservation_cutoff()


def next_item(assignment: Assignment) -> AssignmentItem | None:
    """The item the annotator is to judge now (the same one until it is answered), or None when there is none.
    Serving it the first time fixes its exposure (the staircase's current value in a timed protocol)."""
    if assignment.stage not in ANSWERING_STAGES:
        return None
    values = _Assignment(
        assignment.pk,
        assignment.stage,
        assignment.exposure_ms,
        None,
        None,
        assignment.answered,  # the caller's may be behind: the search then starts earlier, and still finds it
        assignment.study.protocol,
        False,
    )
    with connection.cursor() as cursor:
        ahead, _ = _ahead(cursor, values)
        if not ahead:
            return None
        _serve(cursor, values, ahead[0])
    return AssignmentItem.objects.select_related("item").get(pk=ahead[0].id)


def record_judgment(
    assignment: Assignment, item_token: str, *, answer_real: bool, response_ms: int, display: Display = NO_DISPLAY
) -> Outcome:
    """Store the annotator's answer to their current item, once. Refused: an item not in this assignment (404),
    not the current one or already answered (409), an answer faster than the pace allows (429). The caller's
    ``assignment`` is brought up to date with what the answer moved (stage, staircase, last activity)."""
    outcome, _, moved = _record(assignment.token, item_token, answer_real, response_ms, display)
    for name in ("stage", "exposure_ms", "active_at", "finished_at", "answered"):
        setattr(assignment, name, getattr(moved, name))
    return outcome


def answer(
    token: str, item_token: str, *, answer_real: bool, response_ms: int, display: Display = NO_DISPLAY
) -> tuple[Outcome, Progress]:
    """``record_judgment`` for the assignment whose token this is, with the state that follows the answer (the
    next item served in the same transaction). ``Assignment.DoesNotExist`` when no assignment has the token."""
    outcome, progress, _ = _record(token, item_token, answer_real, response_ms, display)
    return outcome, progress


def _record(
    token: str, item_token: str, answer_real: bool, response_ms: int, display: Display
) -> tuple[Outcome, Progress, _Assignment]:
    displaced = False
    with transaction.atomic(), connection.cursor() as cursor:
        locked = _fetch_assignment(cursor, token, lock=True)
        if not 0 <= response_ms <= MAX_RESPONSE_MS:
            raise Refused("The response time is out of range.", 400)
        now = timezone.now()
        if now - locked.active_at < timedelta(milliseconds=settings.ANNOTATION_MIN_ANSWER_MS):
            raise Refused("Too fast: wait a moment before answering.", 429)
        if _lapsed(locked):
            # Rare: back after the reservation lapsed, so others may have taken these images meanwhile.
            displaced = item_token in _reclaim(locked.id, now)
        if not displaced:
            outcome, progress, moved = _store(cursor, locked, item_token, answer_real, response_ms, display, now)
    if displaced:  # refused once the sequence's repair is committed
        raise Refused("While you were away this image went to someone else: the next one is on screen now.", 409)
    return outcome, progress, moved


def _store(
    cursor: Any,
    locked: _Assignment,
    item_token: str,
    answer_real: bool,
    response_ms: int,
    display: Display,
    now: Any,
) -> tuple[Outcome, Progress, _Assignment]:
    item, following, last = _answerable(cursor, locked, item_token)
    correct = answer_real == item.truth_real
    feedback = locked.feedback and item.phase == AssignmentItem.Phase.TEST
    stamp = connection.ops.adapt_datetimefield_value(now)
    try:
        judged = [item.id, answer_real, correct, response_ms, feedback, stamp, *display, display.exposure_shown_ms]
        _run(cursor, "judge", judged)
    except IntegrityError:
        # Leaving the block rolls the whole answer back: no savepoint is needed for a refusal.
        raise Refused("This image has already been answered.", 409) from None
    moved = _advance(cursor, locked, item, following, correct, now)
    if following is not None and following.phase == item.phase:
        progress = _progress(cursor, moved, [following], last)
    else:  # the phase is over: read the sequence again (a passed qualification has drawn the test)
        progress = _progress(cursor, moved)
    if feedback:
        return Outcome(stage=moved.stage, feedback=True, correct=correct, truth_real=item.truth_real), progress, moved
    return Outcome(stage=moved.stage, feedback=False), progress, moved


def _reclaim(assignment_id: int, now: Any) -> set[str]:
    """Re-reserve a lapsed sequence: each unanswered test image that others have meanwhile brought to its wanted
    judgments (answered or reserved) is swapped for one that still misses some, of the same pool, or dropped
    when none is left (the places after it move up). Returns the tokens no longer in the sequence."""
    assignment = Assignment.objects.select_related("study", "annotator").get(pk=assignment_id)
    study = _locked_study(assignment.study)
    pending = list(
        AssignmentItem.objects.filter(
            assignment=assignment, judgment__isnull=True, item__purpose=StudyItem.Purpose.TEST
        ).select_related("item")
    )
    # The lapsed sequence's own places are not counted (its active_at is past the cutoff): these are the others'.
    allocated = dict(
        _test_items(study)
        .filter(pk__in=[place.item_id for place in pending])
        .annotate(allocated=_allocated())
        .values_list("pk", "allocated")
    )
    taken = [place for place in pending if allocated[place.item_id] >= study.judgments_per_item]
    gone: set[str] = set()
    if taken:
        pools = {sp.pool_id: sp for sp in study.study_pools.select_related("pool")}
        wanted: dict[StudyPool, int] = defaultdict(int)
        for place in taken:
            wanted[pools[place.item.pool_id]] += 1
        seen = AssignmentItem.objects.filter(assignment__annotator_id=assignment.annotator_id).values("item_id")
        rng = random.Random(f"{study.seed}:{assignment.pk}:reclaim:{now.timestamp()}")
        spare = _missing(study, wanted, seen, rng)
        dropped = []
        for place in taken:
            gone.add(place.token)
            if spare[place.item.pool_id]:
                place.item_id = spare[place.item.pool_id].pop()
                place.token, place.served_at, place.exposure_ms = secret_token(), None, None
                place.save(update_fields=["item", "token", "served_at", "exposure_ms"])
            else:
                dropped.append(place.pk)
        if dropped:
            AssignmentItem.objects.filter(pk__in=dropped).delete()
            _renumber(assignment)
    stage = assignment.stage
    if not AssignmentItem.objects.filter(assignment=assignment, judgment__isnull=True).exists():
        stage = Assignment.Stage.COMPLETE
    Assignment.objects.filter(pk=assignment.pk).update(active_at=now, stage=stage)
    return gone


def _renumber(assignment: Assignment) -> None:
    """Positions and trials without gaps again, after places were dropped (the hot path finds the current item by
    its position). Only unanswered places move, and each moves up, so updating in order never collides."""
    places = AssignmentItem.objects.filter(assignment=assignment).order_by("position")
    trials: dict[str, int] = defaultdict(int)
    for position, place in enumerate(places.only("pk", "position", "phase", "trial")):
        trial = trials[place.phase]
        trials[place.phase] += 1
        if (place.position, place.trial) != (position, trial):
            AssignmentItem.objects.filter(pk=place.pk).update(position=position, trial=trial)


def _answerable(cursor: Any, assignment: _Assignment, item_token: str) -> tuple[_Item, _Item | None, _Item | None]:
    """The item the token names, which must be the one on screen, the item after it (None at the end) and the
    sequence's last item. The usual answer costs one query: the token is the first unanswered item's, served."""
    ahead, last = [], None
    if assignment.stage in ANSWERING_STAGES:
        ahead, last = _ahead(cursor, assignment)
    if ahead and ahead[0].token == item_token and ahead[0].served:
        return ahead[0], ahead[1] if len(ahead) > 1 else None, last
    item = AssignmentItem.objects.filter(assignment_id=assignment.id, token=item_token).first()
    if item is None:
        raise Refused("This image is not part of your assignment.", 404)
    if Judgment.objects.filter(assignment_item=item).exists():
        raise Refused("This image has already been answered.", 409)
    raise Refused("Answer the image on screen: this one is not it.", 409)


def _advance(
    cursor: Any, assignment: _Assignment, item: _Item, following: _Item | None, correct: bool, now: Any
) -> _Assignment:
    """After an answer: move the staircase, and end the phase when its last item is answered. Items are answered
    in order and a sequence's phases follow each other, so the phase ends unless the next item is of it."""
    exposure_ms, stage, finished_at = assignment.exposure_ms, assignment.stage, assignment.finished_at
    remaining = following is not None and following.phase == item.phase
    if item.phase == AssignmentItem.Phase.TEST:
        # Attention checks step the staircase like any image: with feedback on, an exposure left as it was after an
        # answer would tell that the image was a check. Being easy, checks making a share c of the trials move the
        # staircase's target on the other images from 75% right to 0.75 - c / (4 (1 - c)): 74.2% with 5 in 155.
        # It steps from the exposure requested, not the one measured on screen: the page shows the nearest whole
        # number of frames, and stepping from that would round again at every step, turning 10 ms down and 30 up
        # into one frame down and two up at 60 Hz (a 67% target) or one and four at 120 Hz (80%). The exposures
        # shown are what HYPE-time scores (docs/annotation.md, "Timing").
        # A block's first image restarts the staircase whatever the answer before it, so that reveals nothing.
        new_block = remaining and following.block != item.block
        exposure_ms = get_protocol(assignment.protocol).next_exposure(exposure_ms, correct, new_block=new_block)
    if not remaining and item.phase == AssignmentItem.Phase.QUALIFICATION:
        # Rare (once per annotator): the ORM's instances, for the qualification's verdict and the test's draw.
        full = Assignment.objects.select_related("study", "annotator").get(pk=assignment.id)
        full.exposure_ms, full.active_at = exposure_ms, now
        _end_qualification(full, now)
        stage, finished_at = full.stage, full.finished_at
    elif not remaining:
        stage = Assignment.Stage.COMPLETE
    adapt = connection.ops.adapt_datetimefield_value
    answered = item.position + 1
    _run(cursor, "advance", [exposure_ms, adapt(now), stage, adapt(finished_at), answered, assignment.id])
    return assignment._replace(
        exposure_ms=exposure_ms, active_at=now, stage=stage, finished_at=finished_at, answered=answered
    )


def image_file(token: str) -> Path | None:
    """The study's copy of a served image by its token (None: no such image, or not served yet)."""
    with connection.cursor() as cursor:
        _run(cursor, "image", [token])
        row = cursor.fetchone()
    if row is None:
        return None
    return images.study_image_path(*row)


def _end_qualification(assignment: Assignment, now: Any) -> None:
    answers = list(
        Judgment.objects.filter(
            assignment_item__assignment=assignment, assignment_item__phase=AssignmentItem.Phase.QUALIFICATION
        ).values_list("assignment_item__item__truth_real", "answer_real")
    )
    ok = qualification.passed(
        [truth for truth, _ in answers], [answer for _, answer in answers], assignment.study.qualification_threshold
    )
    annotator = assignment.annotator
    annotator.qualification = Annotator.Qualification.PASSED if ok else Annotator.Qualification.FAILED
    annotator.save(update_fields=["qualification"])
    if ok:
        assignment.stage = Assignment.Stage.TEST
        # The study's lock, as at a start: passers drawing together must not take the same missing judgments.
        study = _locked_study(assignment.study)
        try:
            _draw_test(study, assignment)
        except Refused:
            # Every image has its judgments (or none is new to them): the passer is done, and paid as such.
            assignment.stage = Assignment.Stage.COMPLETE
    else:
        assignment.stage, assignment.finished_at = Assignment.Stage.DISQUALIFIED, now


def finish_assignment(assignment: Assignment) -> Completion:
    """Mark a fully answered assignment submitted (again: idempotent) and say how to end it on the platform.
    A disqualified assignment ends the same way, so that the platform pays it by its rules."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("study", "annotator")
            .get(pk=assignment.pk)
        )
        if assignment.stage == Assignment.Stage.COMPLETE:
            assignment.stage, assignment.finished_at = Assignment.Stage.SUBMITTED, timezone.now()
            assignment.save(update_fields=["stage", "finished_at"])
        elif assignment.stage == Assignment.Stage.ABANDONED:
            raise Refused("This assignment was replaced by a newer one of yours.", 409)
        elif assignment.stage not in (Assignment.Stage.SUBMITTED, Assignment.Stage.DISQUALIFIED):
            raise Refused("Answer every image first.", 409)
    return completion(assignment)


def withdraw_assignment(assignment: Assignment) -> Completion:
    """The annotator chooses to stop: the assignment ends (withdrawn; again: idempotent), its unanswered images go
    back to the others, and the answers given stay, as a returned HIT's do. Refused once it has ended otherwise."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("study", "annotator")
            .get(pk=assignment.pk)
        )
        if assignment.stage in LIVE_STAGES:
            assignment.stage, assignment.finished_at = Assignment.Stage.WITHDRAWN, timezone.now()
            assignment.save(update_fields=["stage", "finished_at"])
        elif assignment.stage != Assignment.Stage.WITHDRAWN:
            raise Refused(f"This assignment has ended already ({assignment.stage}).", 409)
    return completion(assignment)


def completion(assignment: Assignment) -> Completion:
    code = assignment.study.completion_code
    disqualified = assignment.stage == Assignment.Stage.DISQUALIFIED
    platform = assignment.annotator.platform
    if platform == Annotator.Platform.MTURK and assignment.submit_to:
        return Completion(
            kind="mturk",
            code=code,
            url=f"{assignment.submit_to}/mturk/externalSubmit",
            # MTurk wants at least one field besides assignmentId.
            fields={"assignmentId": assignment.external_id, "completionCode": code},
            disqualified=disqualified,
        )
    if platform == Annotator.Platform.PROLIFIC:
        return Completion(
            kind="prolific", code=code, url=f"{PROLIFIC_COMPLETION_URL}?cc={code}", disqualified=disqualified
        )
    return Completion(kind="code", code=code, disqualified=disqualified)
