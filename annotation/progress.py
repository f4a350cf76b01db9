"""How far a study is: the test judgments collected of those wanted, and per arm the annotators taking part now
and those who finished. For the results page and the admin's list of studies."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from annotation.actions.assignments import LIVE_STAGES, reservation_cutoff
from annotation.models import Annotator, Assignment, AssignmentItem, Judgment, Study, StudyItem


@dataclass(frozen=True)
class ArmProgress:
    condition: str  # "feedback" or "no_feedback"
    active: int  # a sequence being answered, its reservation not lapsed
    finished: int  # an assignment submitted


@dataclass(frozen=True)
class StudyProgress:
    collected: int  # test judgments of test images
    wanted: int  # test images times judgments wanted per image
    arms: tuple[ArmProgress, ...]

    def __str__(self) -> str:
        return f"{self.collected} / {self.wanted}"


def study_progress(study: Study) -> StudyProgress:
    wanted = StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.TEST).count() * study.judgments_per_item
    collected = Judgment.objects.filter(
        assignment_item__assignment__study=study,
        assignment_item__phase=AssignmentItem.Phase.TEST,
        assignment_item__item__purpose=StudyItem.Purpose.TEST,
    ).count()
    cutoff = reservation_cutoff()
    counts = (
        Annotator.objects.filter(study=study)
        .values("feedback")
        .annotate(
            active=Count(
                "id",
                filter=Q(assignments__stage__in=LIVE_STAGES, assignments__active_at__gte=cutoff),
                distinct=True,
            ),
            finished=Count("id", filter=Q(assignments__stage=Assignment.Stage.SUBMITTED), distinct=True),
        )
    )
    by_arm = {row["feedback"]: row for row in counts}
    arms = tuple(
        ArmProgress(
            "feedback" if feedback else "no_feedback",
            by_arm.get(feedback, {}).get("active", 0),
            by_arm.get(feedback, {}).get("finished", 0),
        )
        for feedback in _arms(study)
    )
    return StudyProgress(collected, wanted, arms)


def _arms(study: Study) -> tuple[bool, ...]:
    if study.feedback == Study.Feedback.RANDOMISED:
        return (True, False)
    return (study.feedback == Study.Feedback.EACH,)
