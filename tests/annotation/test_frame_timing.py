"""A timed image's presentation as the browser measured it: refused by field when wrong, stored with the judgment
and exported; the staircase keeps stepping from the exposure requested; HYPE-time scores the exposures shown and
leaves out, by default, the judgments whose exposure had a dropped frame."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from django.urls import reverse

from annotation.models import Assignment, AssignmentItem, Judgment
from annotation.stats import Judgments, hype_time_score
from testkit.factories import open_study, start

pytestmark = pytest.mark.django_db

REFRESH = 1000 / 60
# 500 ms requested at 60 Hz: 30 frames; 29 were shown (a frame short), so 483.3 ms.
TIMING = {
    "refresh_ms": REFRESH,
    "frames_requested": 30,
    "frames_shown": 29,
    "stimulus_onset_ms": 1000.0,
    "stimulus_offset_ms": 1000.0 + 29 * REFRESH,
    "mask_onset_ms": 1000.0 + 29 * REFRESH,
    "mask_offset_ms": 1000.0 + 37 * REFRESH,
    "dropped_frames": False,
}
TIMING_FIELDS = [*TIMING, "exposure_shown_ms"]


def post_answer(client: Any, assignment: Assignment, body: Any) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("annotation:answer", args=[assignment.token]), raw, content_type="application/json")


def served(client: Any, assignment: Assignment) -> AssignmentItem:
    token = client.get(reverse("annotation:state", args=[assignment.token])).json()["item"]["token"]
    return AssignmentItem.objects.select_related("item").get(token=token)


def answer(client: Any, assignment: Assignment, *, right: bool = True, **timing: Any) -> Any:
    """Answer the image on screen, rightly or not, with ``timing``."""
    item = served(client, assignment)
    real = item.item.truth_real if right else not item.item.truth_real
    body = {"item": item.token, "answer": "real" if real else "generated", "response_ms": 900, **timing}
    return post_answer(client, assignment, body)


def timed_assignment() -> Assignment:
    return start(open_study(protocol="hype_time", items_per_assignment=4, block_size=2, judgments_per_item=1))


def test_the_measured_timing_is_stored_with_the_judgment_and_exported(staff_client):
    assignment = timed_assignment()
    assert answer(staff_client, assignment, **TIMING).status_code == 200
    assert answer(staff_client, assignment, **{**TIMING, "dropped_frames": True}).status_code == 200
    # A script or an old page that does not measure still answers: the fields stay blank.
    assert answer(staff_client, assignment).status_code == 200
    first, second, third = Judgment.objects.order_by("assignment_item__position")
    assert {name: getattr(first, name) for name in TIMING} == pytest.approx(TIMING)
    assert first.exposure_shown_ms == pytest.approx(29 * REFRESH)
    assert second.dropped_frames is True
    assert all(getattr(third, name) is None for name in TIMING_FIELDS)
    exported = staff_client.get(reverse("annotation:export_judgments", args=[assignment.study_id]))
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert float(rows[0]["exposure_shown_ms"]) == pytest.approx(483.333, abs=1e-3)
    assert (rows[0]["frames_requested"], rows[0]["frames_shown"], rows[0]["dropped_frames"]) == ("30", "29", "0")
    assert rows[1]["dropped_frames"] == "1"
    assert [rows[2][name] for name in TIMING_FIELDS] == [""] * len(TIMING_FIELDS)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("refresh_ms", 0, "refresh_ms: expected"),
        ("refresh_ms", 1001, "refresh_ms: expected"),
        ("refresh_ms", "16.7", "refresh_ms: expected"),
        ("refresh_ms", True, "refresh_ms: expected"),
        ("frames_requested", 0, "frames_requested: expected"),
        ("frames_requested", 29.5, "frames_requested: expected"),
        ("frames_shown", -1, "frames_shown: expected"),
        ("frames_shown", False, "frames_shown: expected"),
        ("stimulus_onset_ms", -1, "stimulus_onset_ms: expected"),
        ("stimulus_onset_ms", 1e308 * 10, "stimulus_onset_ms: expected"),  # Infinity, which Python's JSON reads
        ("stimulus_offset_ms", 999.0, "stimulus_offset_ms: expected at or after stimulus_onset_ms"),
        ("stimulus_offset_ms", None, "stimulus_offset_ms: expected with stimulus_onset_ms"),
        ("mask_onset_ms", None, "mask_onset_ms: expected with mask_offset_ms"),
        ("mask_offset_ms", 0.5, "mask_offset_ms: expected at or after mask_onset_ms"),
        ("dropped_frames", 1, "dropped_frames: expected true or false"),
        ("dropped_frames", "false", "dropped_frames: expected true or false"),
    ],
)
def test_a_bad_timing_value_is_refused_by_name_and_nothing_is_stored(client, field, value, error):
    assignment = timed_assignment()
    response = answer(client, assignment, **{**TIMING, field: value})
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert not Judgment.objects.exists()
    assert Assignment.objects.get().exposure_ms == 500, "the staircase did not move"


@pytest.mark.parametrize(
    ("timing", "right", "expected"),
    [
        # Shown a frame short of 500 ms (483.3): the step is still from the 500 requested. From the rounded
        # exposure shown, the 10/30 ms rule would become one frame down and two up at 60 Hz, a 67% target.
        (TIMING, True, 490),
        (TIMING, False, 530),
        # A dropped frame: the exposure measured holds a stall.
        ({**TIMING, "dropped_frames": True, "stimulus_offset_ms": 1900.0}, True, 490),
        # Not measured (a script, an old page).
        ({}, True, 490),
    ],
)
def test_the_staircase_steps_from_the_exposure_requested(client, timing, right, expected):
    assignment = timed_assignment()
    assert answer(client, assignment, right=right, **timing).status_code == 200
    assert Assignment.objects.get().exposure_ms == expected
    assert served(client, assignment).exposure_ms == expected


def timed_table(shown: list[float], dropped: list[bool] | None = None) -> Judgments:
    n = len(shown)
    return Judgments.from_records(
        dict(
            annotator=1,
            item=i,
            truth_real=i % 2 == 0,
            answer_real=True,
            exposure_ms=500.0,
            exposure_shown_ms=shown[i],
            dropped_frames=(dropped or [False] * n)[i],
        )
        for i in range(n)
    )


def test_hype_time_scores_the_exposures_shown():
    # Requested 500 ms throughout; shown to the frame: 483.3 twice (jitter of microseconds), 500 once.
    j = timed_table([483.331, 483.329, 500.0])
    assert hype_time_score(j, n_boot=0).score == 483.0
    # Where nothing was measured, the requested exposure counts.
    assert hype_time_score(timed_table([math.nan] * 3), n_boot=0).score == 500.0


def test_a_measured_exposure_far_from_the_requested_one_does_not_count():
    # A script reporting 1000 ms shown for each 500 ms requested must not lift the score: beyond 1.5 frames of a
    # 30 Hz screen (50 ms) the requested exposure counts.
    assert hype_time_score(timed_table([1000.0, 1000.0, 1000.0]), n_boot=0).score == 500.0
    assert hype_time_score(timed_table([549.0, 549.0, 500.0]), n_boot=0).score == 549.0
    assert hype_time_score(timed_table([551.0, 551.0, 500.0]), n_boot=0).score == 500.0


def test_hype_time_leaves_out_dropped_frames_unless_asked():
    j = timed_table([483.3, 483.3, 516.7, 516.7, 516.7], dropped=[False, False, True, True, True])
    assert hype_time_score(j, n_boot=0).score == 483.0
    assert hype_time_score(j, n_boot=0).n == 2
    assert hype_time_score(j, n_boot=0, include_dropped=True).score == 517.0


def test_a_table_without_the_timing_columns_defaults_them():
    columns = timed_table([1.0]).subset(np.array([True]))
    j = Judgments(**{name: getattr(columns, name) for name in ("annotator", "item", "pool", "truth_real")},
                  **{name: getattr(columns, name) for name in ("answer_real", "response_ms", "trial", "condition")},
                  block=columns.block, exposure_ms=columns.exposure_ms, attention=columns.attention)  # fmt: skip
    assert np.isnan(j.exposure_shown_ms).all() and not j.dropped_frames.any()
    assert len(j.subset(np.array([True]))) == 1


def test_the_results_page_counts_dropped_frames_and_may_count_them_in(staff_client):
    assignment = timed_assignment()
    answer(staff_client, assignment, **TIMING)
    answer(staff_client, assignment, **{**TIMING, "dropped_frames": True, "stimulus_offset_ms": 1900.0})
    url = reverse("annotation:results", args=[assignment.study_id])
    response = staff_client.get(url)
    results = response.context["results"]
    overall = next(row for row in results.rows if row.pool_id is None)
    assert (results.dropped_frames, results.included_dropped) == (1, False)
    assert overall.hype_time.n == 1 and overall.hype_time.score == 483.0
    page = response.content.decode()
    assert "1 judgment had a dropped frame" in page and "dropped=include" in page
    counted = staff_client.get(url, {"dropped": "include"}).context["results"]
    assert counted.included_dropped is True
    assert next(row for row in counted.rows if row.pool_id is None).hype_time.n == 2
    summary = staff_client.get(reverse("annotation:export_summary", args=[assignment.study_id]), {"dropped": "include"})
    lines = b"".join(summary.streaming_content).decode()
    assert "hype_time,feedback,all images,,,n,2" in lines
    assert "timing,all,,,,dropped_frames,1" in lines and "timing,all,,,,hype_time_counts_dropped_frames,True" in lines
