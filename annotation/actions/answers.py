"""The annotator's hot path: an assignment's state with its current item served, the answer to it, the next item,
and a served image's file. Refusals raise ``Refused`` with a message for the annotator and an HTTP status.

Answering locks the assignment's row, so that a double submit is answered in turn: the second finds the item
answered and is refused, and the judgment's primary key (the assignment item) refuses it again should anything
get past the lock. The statements are annotation.actions.hot_sql's; the ORM stays the default for each rare
branch: refusals, the end of a qualification, the state once nothing is left to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotation import images
from annotation.actions import hot_sql
from annotation.actions.assignments import ANSWERING_STAGES, end_qualification, reclaim, reservation_cutoff
from annotation.actions.errors import Refused
from annotation.models import Assignment, AssignmentItem, Judgment
from annotation.protocols import get_protocol

MAX_RESPONSE_MS = 3_600_000


@dataclass(frozen=True)
class Outcome:
    """What an annotator learns from an answer: that it is stored, and the truth only with feedback."""

    stage: str
    feedback: bool
    correct: bool | None = None
    truth_real: bool | None = None


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
    study: str  # the study's public id: where its images are


class _Item(NamedTuple):
    """An assigned item, with its study item's truth (never sent to the browser)."""

    id: int
    token: str
    position: int
    phase: str
    trial: int
    block: int
    exposure_ms: int | None
    study_item: int  # its image's name in the study's folder
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
    """The current image, as the task page may know it: its token, its block and its exposure; and the file of
    its bytes, which the state carries so that the page need not ask for them (None: the page asks by token)."""

    token: str
    block: int
    exposure_ms: int | None
    file: Path | None = None


@dataclass(frozen=True)
class AssignmentState:
    """Where an assignment stands: its stage, the phase's progress, and the image to judge now (if any)."""

    stage: str
    phase: str
    done: int  # answered in this phase
    total: int  # items of this phase
    answered: int  # answered in the whole sequence
    blocks: int
    item: Shown | None


def _datetime(value: Any) -> Any:
    """A timestamp as the ORM would read it: SQLite's raw cursor gives it naive (or as text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, connection.timezone)
    return value


def _fetch_assignment(cursor: Any, token: str, *, lock: bool = False) -> _Assignment:
    row = hot_sql.run(cursor, "lock" if lock else "assignment", [token]).fetchone()
    if row is None:
        raise Assignment.DoesNotExist(f"no assignment with token {token!r}")
    pk, stage, exposure_ms, active_at, finished_at, answered, protocol, feedback, study = row
    return _Assignment(
        pk, stage, exposure_ms, _datetime(active_at), _datetime(finished_at), answered, protocol, bool(feedback), study
    )


def _ahead(cursor: Any, assignment: _Assignment) -> tuple[list[_Item], _Item | None]:
    """The first unanswered items in order (the current one and the next at least, unless the sequence ends), and
    the sequence's last item (None: no sequence)."""
    start, ahead, last = assignment.answered, [], None
    while True:
        rows = hot_sql.run(cursor, "ahead", [assignment.id, start, start + 2, assignment.id]).fetchall()
        read = 0
        for kind, pk, token, position, phase, trial, block, exposure, study_item, served, truth, judged in rows:
            if kind == 1:
                last = _Item(pk, token, position, phase, trial, block, exposure, study_item, False, False)
                continue
            read += 1
            start = max(start, position + 1)
            if not judged:
                served, truth = bool(served), bool(truth)
                ahead.append(_Item(pk, token, position, phase, trial, block, exposure, study_item, served, truth))
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
    if hot_sql.run(cursor, "serve", [now, exposure_ms, item.id]).rowcount == 0:
        # Served meanwhile by another request: its exposure stands.
        (exposure_ms,) = hot_sql.run(cursor, "served", [item.id]).fetchone()
    return exposure_ms


def _state(
    cursor: Any, assignment: _Assignment, ahead: list[_Item] | None = None, last: _Item | None = None
) -> AssignmentState:
    """The assignment's state, its current item served (``ahead`` and ``last``: as ``_ahead`` read them, if it
    did already). Items are answered in order only (the current one is the first unanswered), positions and
    trials count from 0 without gaps, a phase is drawn whole (the test phase only once the qualification is
    over) and its blocks follow each other: so the current item's position is the number answered, its trial
    the number answered in its phase, and the sequence's last item tells the phase's size and blocks. The
    database counts them instead when no item is left to answer (or should the last item be of another phase)."""
    if assignment.stage not in ANSWERING_STAGES:
        return _counted_state(assignment, AssignmentItem.Phase.TEST, None)
    if ahead is None:
        ahead, last = _ahead(cursor, assignment)
    if not ahead:
        return _counted_state(assignment, AssignmentItem.Phase.TEST, None)
    current = ahead[0]
    shown = Shown(
        token=current.token,
        block=current.block,
        exposure_ms=_serve(cursor, assignment, current),
        file=images.study_image_path(assignment.study, current.study_item),
    )
    if last is None or last.phase != current.phase:
        return _counted_state(assignment, current.phase, shown)
    return AssignmentState(
        stage=assignment.stage,
        phase=current.phase,
        done=current.trial,
        total=last.trial + 1,
        answered=current.position,
        blocks=last.block + 1,
        item=shown,
    )


def _counted_state(assignment: _Assignment, phase: str, item: Shown | None) -> AssignmentState:
    in_phase = Q(phase=phase)
    counts = AssignmentItem.objects.filter(assignment_id=assignment.id).aggregate(
        total=Count("pk", filter=in_phase),
        done=Count("judgment", filter=in_phase),
        blocks=Max("block", filter=in_phase),
        answered=Count("judgment"),
    )
    return AssignmentState(
        stage=assignment.stage,
        phase=phase,
        done=counts["done"],
        total=counts["total"],
        answered=counts["answered"],
        blocks=(counts["blocks"] or 0) + 1,
        item=item,
    )


def current_state(token: str) -> AssignmentState:
    """The state of the assignment whose token this is, its current item served (fixing its exposure).
    ``Assignment.DoesNotExist`` when no assignment has the token."""
    with connection.cursor() as cursor:
        assignment = _fetch_assignment(cursor, token)
        if _lapsed(assignment):
            # Back after the reservation lapsed: the sequence is repaired before an image is shown.
            with transaction.atomic():
                assignment = _fetch_assignment(cursor, token, lock=True)
                if _lapsed(assignment):
                    reclaim(assignment.id, timezone.now())
                    assignment = _fetch_assignment(cursor, token)
        return _state(cursor, assignment)


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
        assignment.study.public_id,
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
) -> tuple[Outcome, AssignmentState]:
    """``record_judgment`` for the assignment whose token this is, with the state that follows the answer (the
    next item served in the same transaction). ``Assignment.DoesNotExist`` when no assignment has the token."""
    outcome, progress, _ = _record(token, item_token, answer_real, response_ms, display)
    return outcome, progress


def _record(
    token: str, item_token: str, answer_real: bool, response_ms: int, display: Display
) -> tuple[Outcome, AssignmentState, _Assignment]:
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
            displaced = item_token in reclaim(locked.id, now)
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
) -> tuple[Outcome, AssignmentState, _Assignment]:
    item, following, last = _answerable(cursor, locked, item_token)
    correct = answer_real == item.truth_real
    feedback = locked.feedback and item.phase == AssignmentItem.Phase.TEST
    stamp = connection.ops.adapt_datetimefield_value(now)
    try:
        judged = [item.id, answer_real, correct, response_ms, feedback, stamp, *display, display.exposure_shown_ms]
        hot_sql.run(cursor, "judge", judged)
    except IntegrityError:
        # Leaving the block rolls the whole answer back: no savepoint is needed for a refusal.
        raise Refused("This image has already been answered.", 409) from None
    moved = _advance(cursor, locked, item, following, correct, now)
    if following is not None and following.phase == item.phase:
        progress = _state(cursor, moved, [following], last)
    else:  # the phase is over: read the sequence again (a passed qualification has drawn the test)
        progress = _state(cursor, moved)
    if feedback:
        return Outcome(stage=moved.stage, feedback=True, correct=correct, truth_real=item.truth_real), progress, moved
    return Outcome(stage=moved.stage, feedback=False), progress, moved


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
        end_qualification(full, now)
        stage, finished_at = full.stage, full.finished_at
    elif not remaining:
        stage = Assignment.Stage.COMPLETE
    adapt = connection.ops.adapt_datetimefield_value
    answered = item.position + 1
    hot_sql.run(cursor, "advance", [exposure_ms, adapt(now), stage, adapt(finished_at), answered, assignment.id])
    return assignment._replace(
        exposure_ms=exposure_ms, active_at=now, stage=stage, finished_at=finished_at, answered=answered
    )


def image_file(token: str) -> Path | None:
    """The study's copy of a served image by its token (None: no such image, or not served yet)."""
    with connection.cursor() as cursor:
        row = hot_sql.run(cursor, "image", [token]).fetchone()
    if row is None:
        return None
    return images.study_image_path(*row)
