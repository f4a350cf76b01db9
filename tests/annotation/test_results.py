"""The researchers' results page and CSV exports: staff only, numbers equal to direct computations from the
stored judgments, a constant number of queries, and an export that matches the judgments row for row."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from scipy.stats import binomtest

from annotation.actions import studies
from annotation.actions.completion import finish_assignment
from annotation.actions.studies import add_attention_items, create_study, set_study_pool
from annotation.export import JUDGMENT_COLUMNS
from annotation.models import Judgment, Study
from runs.models import JobStatus, PoolScore
from testkit.factories import STUDY_TEXTS, ImagePoolFactory, UserFactory, answer_all, open_study, start

pytestmark = pytest.mark.django_db


def judged_study(annotators: int = 4, **values: Any) -> Study:
    """A finished round of judgments: annotators right on every real image, and on every other generated one of
    the test (all of the qualification's)."""
    study = open_study(**{"items_per_assignment": 10, "judgments_per_item": 10, "feedback": "randomised", **values})
    for n in range(annotators):
        assignment = start(study, f"w{n}")
        answer_all(
            assignment, rule=lambda item: item.item.truth_real or (item.phase == "test" and item.position % 2 == 0)
        )
        finish_assignment(assignment)
    return study


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("name", ["results", "export_judgments", "export_summary"])
def test_researchers_pages_need_staff(client, name):
    study = judged_study(annotators=1)
    url = reverse(f"annotation:{name}", args=[study.pk])
    assert client.get(url).status_code == 302
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_item_images_for_admin_need_staff(staff_client):
    study = judged_study(annotators=1)
    item = study.items.first()
    url = reverse("annotation:item_image", args=[item.pk])
    assert Client().get(url).status_code == 302
    assert staff_client.get(url)["Content-Type"] == "image/png"


def test_results_equal_direct_computations(staff_client):
    study = judged_study()
    judgments = Judgment.objects.filter(assignment_item__assignment__study=study, assignment_item__phase="test")
    n, right = judgments.count(), judgments.filter(correct=True).count()
    fakes = judgments.filter(assignment_item__item__truth_real=False)
    fooled = fakes.filter(answer_real=True).count()
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    assert response.status_code == 200
    overall = next(row for row in response.context["results"].rows if row.condition == "all" and row.pool_id is None)
    assert (overall.accuracy.n, overall.accuracy.correct) == (n, right)
    assert overall.accuracy.accuracy == pytest.approx(right / n)
    assert overall.accuracy.fake_error == pytest.approx(fooled / fakes.count())
    assert overall.accuracy.p_value_vs_chance == pytest.approx(binomtest(right, n, 0.5).pvalue)
    assert overall.hype_infinity.score == pytest.approx((n - right) / n)
    assert f"{100 * right / n:.1f}%" in response.content.decode()
    assert response.context["results"].arms is not None, "both arms are present, so they are compared"


def test_results_page_queries_do_not_grow_with_the_judgments(staff_client):
    counts = []
    for annotators in (1, 5):
        study = judged_study(annotators=annotators)
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(reverse("annotation:results", args=[study.pk])).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 12


def test_judgment_export_matches_the_stored_judgments_row_for_row(staff_client):
    study = judged_study(annotators=3, require_qualification=True, qualification_items=4)
    response = staff_client.get(reverse("annotation:export_judgments", args=[study.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert list(rows[0]) == [name for name, _ in JUDGMENT_COLUMNS]
    stored = list(
        Judgment.objects.filter(assignment_item__assignment__study=study)
        .select_related("assignment_item__item", "assignment_item__assignment__annotator")
        .order_by("assignment_item_id")
    )
    assert len(rows) == len(stored) == 3 * (4 + 10)
    for row, judgment in zip(rows, stored, strict=True):
        entry, annotator = judgment.assignment_item, judgment.assignment_item.assignment.annotator
        assert row["annotator"] == annotator.pseudonym and annotator.external_id not in row.values()
        assert row["condition"] == annotator.condition
        assert int(row["item"]) == entry.item_id and int(row["pool"]) == entry.item.pool_id
        assert row["truth"] == ("real" if entry.item.truth_real else "generated")
        assert row["answer"] == ("real" if judgment.answer_real else "generated")
        assert row["correct"] == str(int(judgment.correct))
        assert int(row["response_ms"]) == judgment.response_ms and int(row["trial"]) == entry.trial
        assert row["phase"] == entry.phase and row["feedback_shown"] == str(int(judgment.feedback_shown))
        assert row["answered_at"] == judgment.created_at.isoformat()


def test_summary_export_holds_the_page_numbers(staff_client):
    study = judged_study()
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    overall = response.context["results"].rows[0]
    rows = csv_rows(staff_client.get(reverse("annotation:export_summary", args=[study.pk])))
    value = next(
        r["value"]
        for r in rows
        if (r["section"], r["condition"], r["pool"], r["statistic"]) == ("accuracy", "all", "all images", "accuracy")
    )
    assert float(value) == pytest.approx(overall.accuracy.accuracy)
    assert {r["section"] for r in rows} >= {"accuracy", "hype_infinity", "learning_curve", "annotator"}


def test_flagged_annotators_can_be_excluded(staff_client):
    real, fake = ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")
    obvious = ImagePoolFactory(kind="generated", size=6, tag="-obvious")
    study = create_study(
        **STUDY_TEXTS, name="a", items_per_assignment=6, attention_per_assignment=2, judgments_per_item=5
    )
    set_study_pool(study, real)
    set_study_pool(study, fake)
    add_attention_items(study, obvious, count=4)
    studies.open_study(study)
    answer_all(start(study, "careful"))
    answer_all(start(study, "careless"), rule=lambda item: True)
    url = reverse("annotation:results", args=[study.pk])
    everyone = staff_client.get(url).context["results"]
    flagged = [summary for summary, _ in everyone.annotators if summary.flagged]
    assert len(flagged) == 1 and flagged[0].attention_missed == 2
    assert everyone.n_judgments == 16
    kept = staff_client.get(url + "?exclude=flagged").context["results"]
    assert kept.excluded_flagged and kept.n_annotators == 1 and kept.n_judgments == 8


def test_human_error_is_compared_with_the_inception_score_across_pools(staff_client):
    real = ImagePoolFactory(kind="real")
    generated = [ImagePoolFactory(kind="generated", tag=f"-model{i}") for i in range(3)]
    for i, pool in enumerate(generated):
        values = {"scorer": "inception", "is_mean": 2.0 + i, "is_std": 0.1, "fid": 30.0 - i}
        PoolScore.objects.create(pool=pool, scorer="inception", status=JobStatus.DONE, values=values)
    study = open_study([real, *generated], items_per_assignment=12, judgments_per_item=10)
    for n in range(4):
        answer_all(start(study, f"w{n}"), rule=lambda item: item.item.truth_real or item.trial % 3 == 0)
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    correlations = dict(response.context["results"].correlations)
    assert set(correlations) == {"Inception Score (inception)", "FID (inception)"}
    correlation = correlations["Inception Score (inception)"]
    assert correlation.n_pools == 3
    assert {point.pool for point in correlation.points} == {pool.pk for pool in generated}
    page = response.content.decode()
    assert "<svg" not in page and 'data-results-chart="scatter"' in page


def test_the_export_streams_rows_from_a_server_side_cursor(staff_client):
    """Rows come from the database in chunks while the response is written: midway through, PostgreSQL holds the
    export's cursor open (a study of a million judgments never sits in memory at once)."""
    study = judged_study(annotators=3)
    response = staff_client.get(reverse("annotation:export_judgments", args=[study.pk]))
    lines = iter(response.streaming_content)
    head = [next(lines), next(lines)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
        (open_cursors,) = cursor.fetchone()
    rest = list(lines)
    assert open_cursors == 1
    assert len(head) + len(rest) == 1 + 30


def test_a_hype_time_study_reports_its_score_and_its_departures_from_the_standard(staff_client):
    study = open_study(protocol="hype_time", items_per_assignment=6, block_size=3, judgments_per_item=3)
    for n in range(2):
        answer_all(start(study, f"w{n}"))
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    results = response.context["results"]
    overall = next(row for row in results.rows if row.pool_id is None)
    # Always right: the staircase falls 10 ms a trial from 500, so each block's exposures are distinct and the
    # mode is the lowest (ties go low). Each block restarts at 500 ms (Zhou et al. 2019, §2.1): both blocks are
    # [500, 490, 480], modes 480 and 480.
    assert overall.hype_time.score == pytest.approx(480)
    assert overall.hype_time.n_annotators == 2
    page = response.content.decode()
    assert "HYPE-time" in page and "480 ms" in page
    assert "items_per_assignment is 6 (standard 450)" in page
    assert 'id="hype-time-caveat"' in page, "HYPE-time's interval, a little under its 95%, says so"


def _sweep_like_study(n_generated: int) -> tuple[Study, list[Any]]:
    """A real pool and ``n_generated`` scored pools whose human error rises with their Inception Score."""
    real = ImagePoolFactory(kind="real")
    generated = [ImagePoolFactory(kind="generated", tag=f"-sweep{i}") for i in range(n_generated)]
    for i, pool in enumerate(generated):
        values = {
            "scorer": "digits_cnn",
            "is_mean": 2.0 + i,
            "is_std": 0.1,
            "fid": 30.0 - 3 * i,
            "c2st_accuracy": 1.0 - 0.1 * i,
            "c2st_ci_low": 0.9 - 0.1 * i,
            "c2st_ci_high": 1.0 - 0.05 * i,
            "c2st_n_test": 40,
        }
        PoolScore.objects.create(pool=pool, scorer="digits_cnn", status=JobStatus.DONE, values=values)
    study = open_study([real, *generated], items_per_assignment=20, judgments_per_item=10)
    rank = {pool.pk: i for i, pool in enumerate(generated)}
    for n in range(6):
        # Pool i fools the annotators on i of every 5 of its images: error i/5, rising with IS.
        rule = lambda item: item.item.truth_real or (item.item.pk % 5) < rank[item.item.pool_id]  # noqa: E731
        answer_all(start(study, f"w{n}"), rule=rule)
    return study, generated


def test_a_sweep_of_five_pools_gives_human_error_against_is_fid_and_c2st_with_intervals(staff_client):
    study, _ = _sweep_like_study(5)
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    correlations = dict(response.context["results"].correlations)
    assert set(correlations) == {
        "Inception Score (digits_cnn)",
        "FID (digits_cnn)",
        "C2ST accuracy (digits_cnn)",
    }
    against_is = correlations["Inception Score (digits_cnn)"]
    assert against_is.n_pools == 5 and not against_is.undefined_reason
    assert against_is.pearson_r > 0.8 and against_is.spearman_rho > 0.8 and against_is.kendall_tau > 0.6
    low, high = against_is.pearson_ci
    assert -1 <= low <= high <= 1 and high - low > 0, "an interval from the bootstrap over annotators and images"
    assert correlations["FID (digits_cnn)"].spearman_rho < -0.8, "lower FID, more fooled: a negative rank agreement"
    page = response.content.decode()
    assert page.count("<tr data-pool=") == 5 and "Kendall τ" in page and "No correlation" not in page
    machine = response.context["results"].machine
    assert [m.c2st_accuracy for m in machine] == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    rows = csv_rows(staff_client.get(reverse("annotation:export_summary", args=[study.pk])))
    assert any(r["section"] == "machine_scores" and r["statistic"] == "c2st_accuracy" for r in rows)
    assert any(
        r["section"] == "human_vs_Inception Score (digits_cnn)" and r["statistic"] == "kendall_tau" for r in rows
    )


def test_fewer_than_three_pools_say_plainly_that_there_is_no_correlation(staff_client):
    study, _ = _sweep_like_study(2)
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    (_, correlation), *_ = response.context["results"].correlations
    assert correlation.undefined_reason.startswith("2 generated pools with judgments: a correlation needs at least 3")
    assert "No correlation: 2 generated pools with judgments" in response.content.decode()
