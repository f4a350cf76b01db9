"""CSV exports, streamed: rows are read through a server-side cursor in chunks and written as they come, so a
study of a million judgments exports in constant memory.

Every cell goes through :func:`spreadsheet_safe`: text that a spreadsheet would run as a formula (a pool label,
a study name, a file name from a pool's manifest, all typed by somebody) is written as text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import StreamingHttpResponse

from annotation.models import Judgment

CHUNK_SIZE = 5000
# Column, and the stored field it comes from. Annotators appear by their pseudonym, never a platform id.
JUDGMENT_COLUMNS = (
    ("study", "assignment_item__assignment__study_id"),
    ("condition", "assignment_item__assignment__annotator__feedback"),
    ("annotator", "assignment_item__assignment__annotator__pseudonym"),
    ("assignment", "assignment_item__assignment_id"),
    ("item", "assignment_item__item_id"),
    ("pool", "assignment_item__item__pool_id"),
    ("image", "assignment_item__item__file"),
    ("purpose", "assignment_item__item__purpose"),
    ("phase", "assignment_item__phase"),
    ("truth", "assignment_item__item__truth_real"),
    ("answer", "answer_real"),
    ("correct", "correct"),
    ("response_ms", "response_ms"),
    ("trial", "assignment_item__trial"),
    ("block", "assignment_item__block"),
    ("exposure_ms", "assignment_item__exposure_ms"),
    ("feedback_shown", "feedback_shown"),
    ("served_at", "assignment_item__served_at"),
    ("answered_at", "created_at"),
    ("viewport_width", "viewport_width"),
    ("viewport_height", "viewport_height"),
    ("device_pixel_ratio", "device_pixel_ratio"),
    ("input_kind", "input_kind"),
    ("simulated", "assignment_item__assignment__annotator__simulated"),
)
_LABELS = {True: "real", False: "generated"}
# OWASP, "CSV Injection": a cell starting with one of these is run as a formula by Excel, LibreOffice or Google
# Sheets; prefixing a single quote makes it text. A plain decimal number (a negative one included) is no formula
# and stays a number.
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def judgment_rows(study_ids: Sequence[int]) -> Iterator[list[Any]]:
    """The header, then every judgment of the studies, one row each, in the order they were assigned."""
    yield [name for name, _ in JUDGMENT_COLUMNS]
    rows = (
        Judgment.objects.filter(assignment_item__assignment__study_id__in=study_ids)
        .order_by("assignment_item__assignment__study_id", "assignment_item_id")
        .values_list(*(source for _, source in JUDGMENT_COLUMNS))
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for study, feedback, annotator, assignment, item, pool, image, purpose, phase, truth, answer, *rest in rows:
        condition = "feedback" if feedback else "no_feedback"
        *display, simulated = rest[8:]
        correct, response_ms, trial, block, exposure_ms, feedback_shown, served_at, answered_at = rest[:8]
        yield [
            study, condition, annotator, assignment, item, pool, image, purpose, phase, _LABELS[truth],
            _LABELS[answer], int(correct), response_ms, trial, block, "" if exposure_ms is None else exposure_ms,
            int(feedback_shown), served_at.isoformat() if served_at else "", answered_at.isoformat(),
            *("" if value is None else value for value in display), int(simulated),
        ]  # fmt: skip


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a cell no spreadsheet runs: text that begins like a formula gets a leading single quote;
    numbers, and text that is a plain decimal number, are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_LEAD) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


class _Echo:
    """A file whose write returns what it is given: csv.writer formats a row, the response streams it."""

    def write(self, value: str) -> str:
        return value


def csv_response(rows: Iterable[Sequence[Any]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([spreadsheet_safe(value) for value in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
