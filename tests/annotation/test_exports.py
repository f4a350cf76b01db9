"""CSV exports no spreadsheet runs: every cell a researcher or a pool's author typed that starts like a formula is
written as text (OWASP, "CSV Injection"), numbers stay numbers; and researchers' text stays escaped in pages."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.urls import reverse

from annotation.actions.studies import create_study, open_study, set_study_pool
from annotation.export import FORMULA_LEAD, NUMBER, spreadsheet_safe
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, answer_all, foreign_pool, start

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("evil.example","x")', "+SUM(1,1)", "-2+3", "@cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-1.5", "-1.5"),
        ("+2", "+2"),
        ("-3e-4", "-3e-4"),
        ("plain", "plain"),
        (-1.25, -1.25),
        (-7, -7),
        ("", ""),
    ],
)
def test_spreadsheet_safe_neutralises_formulas_and_leaves_numbers(cell, written):
    assert spreadsheet_safe(cell) == written


def hostile_study() -> Any:
    real = foreign_pool(
        "hostile-names",
        "real",
        40,
        names=[f"{HOSTILE[i % len(HOSTILE)]}{i}.png".replace("/", "") for i in range(40)],
        engine=True,
    )
    fake = ImagePoolFactory(kind="generated")
    study = create_study(
        name="=cmd|' /C calc'!A0 <b>study</b>",
        title="+SUM(2) <i>public title</i>",
        instructions="@SUM(1) <script>alert(1)</script>",
        consent_text=STUDY_TEXTS["consent_text"],
        items_per_assignment=10,
        feedback="randomised",
    )
    set_study_pool(study, real, label=HOSTILE[0])
    set_study_pool(study, fake, label="<img src=x onerror=alert(1)>" + HOSTILE[3])
    open_study(study)
    for i in range(3):
        # Every answer wrong: d' and criterion come out negative, numbers that must stay numbers.
        answer_all(start(study, f"w{i}"), rule=lambda item: not item.item.truth_real)
    return study


def cells(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def assert_safe(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_LEAD) or NUMBER.fullmatch(cell), f"a formula in the export: {cell!r}"


def test_every_export_neutralises_hostile_text_and_keeps_negative_numbers(staff_client):
    study = hostile_study()
    exports = [
        staff_client.get(reverse("annotation:export_judgments", args=[study.pk])),
        staff_client.get(reverse("annotation:export_summary", args=[study.pk])),
        staff_client.post(
            reverse("admin:annotation_study_changelist"),
            {"action": "export_judgments", "_selected_action": [study.pk]},
        ),
        staff_client.post(
            reverse("admin:annotation_study_changelist"), {"action": "export_summary", "_selected_action": [study.pk]}
        ),
    ]
    raw, summary, admin_raw, admin_summary = (cells(response) for response in exports)
    for rows in (raw, summary, admin_raw, admin_summary):
        assert_safe(rows)
    images = {row[raw[0].index("image")] for row in raw[1:]}
    assert any(image.startswith("'=HYPERLINK") for image in images) or any(
        image.startswith(("'+", "'-", "'@", "'\t", "'\r")) for image in images
    )
    labels = {row[2] for row in summary[1:]}
    assert "'" + HOSTILE[0] in labels
    negative = [row[6] for row in summary[1:] if row[5] in ("d_prime", "criterion") and row[6].startswith("-")]
    assert negative and all(float(value) <= 0 for value in negative), "negative numbers stay numbers"
    assert min(float(value) for value in negative) < -1
    assert admin_raw == raw and admin_summary == summary


def test_researchers_text_stays_escaped_on_the_results_page_and_in_the_admin(staff_client):
    study = hostile_study()
    page = staff_client.get(study.get_absolute_url()).content.decode()
    listing = staff_client.get(reverse("admin:annotation_study_changelist")).content.decode()
    for text in (page, listing):
        assert "<b>study</b>" not in text and "&lt;b&gt;study&lt;/b&gt;" in text
    assert "<img src=x" not in page and "&lt;img src=x" in page
