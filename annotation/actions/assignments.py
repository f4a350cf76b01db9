"""An annotator's assignment: the entry through a platform's link, the start (or return) of an assignment, and
the draws of its sequence: the qualification, the test (at the start, or once the qualification is passed), and
the repair of a sequence whose reservation lapsed.

Every draw locks the study's row and takes only images still missing judgments, so that annotators drawing
together cannot both take the last judgment an image needs. The rare paths that also hold an assignment's lock
(annotation.actions.answers) take the assignment's first, then the study's.

Identity: an existing assignment goes back only to proof of the same session (start_assignment's ``proof`` and
the platform's assignment id; views._returning); a worker id alone, which anyone can type, never changes a live
assignment.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, Case, Count, ExpressionWrapper, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from annotation.actions.errors import Refused
from annotation.actions.studies import locked_study, pool_quotas
from annotation.models import Annotator, Assignment, AssignmentItem, Judgment, Study, StudyItem, StudyPool, secret_token
from annotation.protocols import get_protocol, qualification
from annotation.protocols.sequence import arrange, independent_counts, shuffle_blocks
from runs.models import ImagePool

LIVE_STAGES = (Assignment.Stage.QUALIFICATION, Assignment.Stage.TEST, Assignment.Stage.COMPLETE)
ANSWERING_STAGES = (Assignment.Stage.QUALIFICATION, Assignment.Stage.TEST)
# turkSubmitTo is a query parameter anyone can forge: the end of a HIT posts only to MTurk itself.
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
TIE_PRIME = 2_147_483_647  # 2**31 - 1: ids reduced modulo it, times a factor below it, stay within 64 bits


@dataclass(frozen=True)
class Entry:
    """Who arrives through an entry link, as the platform says."""

    platform: str
    worker_id: str
    assignment_id: str = ""  # MTurk assignmentId, Prolific SESSION_ID
    group: str = ""  # MTurk hitId, Prolific STUDY_ID
    submit_to: str = ""  # MTurk turkSubmitTo


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
        study = locked_study(study)
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
        if study_full(study):
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
            draw_test(study, assignment)
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


def allocation() -> Count:
    """Per test item: its judgments, plus the places reserved for it in sequences still being answered."""
    cutoff = reservation_cutoff()
    return Count(
        "assignments",
        filter=Q(assignments__judgment__isnull=False)
        | Q(assignments__assignment__stage=Assignment.Stage.TEST, assignments__assignment__active_at__gte=cutoff),
    )


def test_items(study: Study) -> QuerySet[StudyItem]:
    return StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.TEST)


def study_full(study: Study) -> bool:
    return (
        not test_items(study).annotate(allocated=allocation()).filter(allocated__lt=study.judgments_per_item).exists()
    )


def _draw_qualification(study: Study, assignment: Assignment) -> None:
    items = list(
        StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.QUALIFICATION).values_list("pk", flat=True)
    )
    _rng(study, assignment, AssignmentItem.Phase.QUALIFICATION).shuffle(items)
    _append(assignment, [items], AssignmentItem.Phase.QUALIFICATION)


def draw_test(study: Study, assignment: Assignment) -> None:
    """The test sequence: from each pool, up to its quota of the least-judged images that still miss judgments
    and that this annotator has not seen, attention checks mixed in. Without feedback each pool takes its exact
    quota, spread over balanced shuffled blocks; with feedback each place draws its pool on its own
    (protocols.sequence: revealed truths must not tell the next). The caller holds the study's lock, so that
    concurrent draws cannot take the same missing judgments. Refused when nothing is left to draw."""
    rng = _rng(study, assignment, AssignmentItem.Phase.TEST)
    pools = list(study.study_pools.select_related("pool"))
    quotas = pool_quotas(study, pools)
    feedback = assignment.annotator.feedback
    if feedback:
        counts = independent_counts(sum(quotas.values()), _shares(study, list(quotas)), rng)
        quotas = dict(zip(quotas, counts, strict=True))
    seen = AssignmentItem.objects.filter(assignment__annotator_id=assignment.annotator_id).values("item_id")
    by_pool = missing_images(study, quotas, seen, rng)
    strata = [by_pool[sp.pool_id] for sp in quotas]
    if not any(strata):
        if study_full(study):
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


def missing_images(
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
        test_items(study)
        .exclude(pk__in=seen)
        .exclude(pk__in=list(exclude))
        .annotate(allocated=allocation())
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


def reclaim(assignment_id: int, now: Any) -> set[str]:
    """Re-reserve a lapsed sequence: each unanswered test image that others have meanwhile brought to its wanted
    judgments (answered or reserved) is swapped for one that still misses some, of the same pool, or dropped
    when none is left (the places after it move up). Returns the tokens no longer in the sequence."""
    assignment = Assignment.objects.select_related("study", "annotator").get(pk=assignment_id)
    study = locked_study(assignment.study)
    pending = list(
        AssignmentItem.objects.filter(
            assignment=assignment, judgment__isnull=True, item__purpose=StudyItem.Purpose.TEST
        ).select_related("item")
    )
    # The lapsed sequence's own places are not counted (its active_at is past the cutoff): these are the others'.
    allocated = dict(
        test_items(study)
        .filter(pk__in=[place.item_id for place in pending])
        .annotate(allocated=allocation())
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
        spare = missing_images(study, wanted, seen, rng)
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


def end_qualification(assignment: Assignment, now: Any) -> None:
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
        study = locked_study(assignment.study)
        try:
            draw_test(study, assignment)
        except Refused:
            # Every image has its judgments (or none is new to them): the passer is done, and paid as such.
            assignment.stage = Assignment.Stage.COMPLETE
    else:
        assignment.stage, assignment.finished_at = Assignment.Stage.DISQUALIFIED, now
