"""The qualification step any protocol can require: a fixed set of images, half real, unlimited time, no
feedback; an annotator goes on only with at least the threshold (65%) right on the real half AND on the
generated half (annotation.stats.qualification_passed). Those who fail finish at once with the study's
completion code, so that the platform pays them by its rules; their answers never enter the results."""

from __future__ import annotations

from collections.abc import Sequence

from annotation.stats import QUALIFICATION_THRESHOLD, Judgments, qualification_passed

STANDARD_ITEMS = 100
STANDARD_THRESHOLD = QUALIFICATION_THRESHOLD


def split(total: int) -> tuple[int, int]:
    """(real, generated) images of a qualification set of ``total``: half and half, the odd one generated."""
    return total // 2, total - total // 2


def passed(truth_real: Sequence[bool], answer_real: Sequence[bool], threshold: float) -> bool:
    table = Judgments.from_records(
        {"annotator": 0, "item": i, "truth_real": t, "answer_real": a}
        for i, (t, a) in enumerate(zip(truth_real, answer_real, strict=True))
    )
    return qualification_passed(table, threshold)
