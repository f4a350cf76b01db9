"""How an assignment ends: submitted once fully answered, or withdrawn by the annotator, and the way back to the
platform (MTurk's form post, Prolific's redirect, or a code to show)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotation.actions.assignments import LIVE_STAGES
from annotation.actions.errors import Refused
from annotation.models import Annotator, Assignment

PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete"


@dataclass(frozen=True)
class Completion:
    """How an assignment ends: MTurk's form post, Prolific's redirect, or a code to show."""

    kind: str  # "mturk", "prolific" or "code"
    code: str
    url: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    disqualified: bool = False


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
