"""The results page as drawn: its charts' data arrive as JSON (never NaN), every degenerate case says what it
leaves out and why (no judgments, fewer than 3 pools, equal errors, an arm of one annotator), and the numbers are
formatted for people, with units."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.urls import reverse
from scipy.stats import linregress

from annotation.charts import chart_data
from annotation.models import Study
from annotation.results import study_results
from runs.numbers import percent
from testkit.factories import scored_study

pytestmark = pytest.mark.django_db


def page(staff_client: Any, study: Study) -> tuple[str, Any]:
    response = staff_client.get(reverse("annotation:results", args=[study.pk]))
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())  # sentences as read, whatever the template's line breaks
    assert not re.search(r"\bnan\b", html, re.IGNORECASE), "an undefined number reached the page"
    # The charts' JSON keeps full precision for drawing; everything a person reads is formatted.
    text = re.sub(r'<script id="results-chart-data".*?</script>', "", html, flags=re.S)
    assert not re.search(r"\d\.\d{5,}", text), "a number with more digits than anyone reads"
    return html, response


def charts_json(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="results-chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the charts' data are on the page"
    # JSON.parse rejects NaN and Infinity: parse as strictly as the browser does.
    return json.loads(found.group(1), parse_constant=lambda name: pytest.fail(f"{name} in the charts' JSON"))


def test_no_judgments_yet_is_an_empty_state(staff_client):
    study = scored_study(generated=4, annotators=0)
    html, _ = page(staff_client, study)
    assert 'id="no-judgments"' in html and "No judgments yet" in html
    assert "results-chart-data" not in html and "data-results-chart" not in html


def test_one_pool_and_one_annotator_say_what_they_cannot_show(staff_client):
    study = scored_study(generated=1, annotators=1, feedback="each")
    html, response = page(staff_client, study)
    data = charts_json(html)
    assert [row["kind"] for row in data["forest"]] == ["real error", "fake error"]
    assert "No correlation: 1 generated pool with judgments, and a correlation needs at least 3" in html
    assert "Pearson" not in html and "least-squares slope" not in html
    assert all(scatter["fit"] is None for scatter in data["scatters"])
    # One annotator: HYPE's interval resamples annotators, so there is none, and the page says so.
    assert "(one annotator: no interval)" in html
    assert "The feedback arm has one annotator so far" in html
    curve_table = re.search(r'<table id="learning-curve">.*?</table>', html).group(0)
    assert "(one annotator: no interval)" in curve_table and "%, " not in curve_table
    (arm,) = data["curve"]["arms"]
    assert arm["annotators"] == 1 and not arm["interval"]
    assert all(point["low"] is None and point["high"] is None for point in arm["points"])
    assert response.context["results"].n_annotators == 1


def test_two_pools_give_no_correlation(staff_client):
    study = scored_study(generated=2, annotators=2)
    html, _ = page(staff_client, study)
    data = charts_json(html)
    assert "No correlation: 2 generated pools with judgments, and a correlation needs at least 3" in html
    assert [len(scatter["points"]) for scatter in data["scatters"]] == [2, 2]
    assert "r =" not in html


def test_one_annotator_per_arm_draws_no_bands_and_no_cluster_interval(staff_client):
    study = scored_study(generated=1, annotators=2, feedback="randomised")
    html, _ = page(staff_client, study)
    data = charts_json(html)
    arms = {arm["condition"]: arm for arm in data["curve"]["arms"]}
    assert set(arms) == {"feedback", "no_feedback"}
    assert not any(arm["interval"] for arm in arms.values())
    assert "The feedback arm has one annotator" in html and "The no_feedback arm has one annotator" in html
    assert "no interval resampling annotators: an arm has one annotator" in html
    assert "resampling annotators: [" not in html


def test_four_pools_draw_a_correlation_with_both_error_bars_and_the_fit(staff_client):
    study = scored_study(generated=4, annotators=4, feedback="each")
    html, response = page(staff_client, study)
    data = charts_json(html)
    results = response.context["results"]
    correlations = dict(results.correlations)
    inception = correlations["Inception Score (inception)"]
    assert inception.n_pools == 4
    names = {sp.name for sp in results.pools if sp.pool.kind == "generated"}
    scatter = next(s for s in data["scatters"] if s["name"] == "Inception Score (inception)")
    assert scatter["x_spread"] and len(scatter["points"]) == 4
    for point in scatter["points"]:
        assert (point["x_low"], point["x_high"]) == pytest.approx((point["x"] - 0.25, point["x"] + 0.25))
        assert point["low"] <= point["y"] <= point["high"]
        assert point["pool"] in names
    fit = linregress([p.score for p in inception.points], [p.human_error for p in inception.points])
    assert scatter["fit"]["slope"] == pytest.approx(fit.slope)
    assert scatter["fit"]["intercept"] == pytest.approx(fit.intercept)
    fid = next(s for s in data["scatters"] if s["name"] == "FID (inception)")
    assert not fid["x_spread"] and all(p["x_low"] is None for p in fid["points"])
    # Four generated pools and the real images in the forest, with their intervals.
    kinds = [row["kind"] for row in data["forest"]]
    assert kinds.count("fake error") == 4 and kinds.count("real error") == 1
    assert all(row["low"] <= row["value"] <= row["high"] for row in data["forest"])
    assert "Pearson r = " in html and "over 4 pools" in html
    assert "least-squares slope +" in html or "least-squares slope −" in html
    assert "percentage points of human error per unit of score" in html
    # Four annotators in the arm: intervals everywhere.
    (arm,) = data["curve"]["arms"]
    assert arm["interval"] and all(point["low"] is not None for point in arm["points"])
    assert "(one annotator: no interval)" not in html and "has one annotator" not in html
    assert data["chance"] == 0.5


def test_equal_errors_over_enough_pools_say_nothing_varies(staff_client):
    study = scored_study(generated=3, annotators=2, feedback="each", fooled=lambda item: False)
    html, _ = page(staff_client, study)
    assert "No correlation over these 3 pools: their human errors (or their scores) are all equal" in html


def test_numbers_carry_units_and_people_digits(staff_client):
    study = scored_study(generated=4, annotators=3, feedback="each")
    html, response = page(staff_client, study)
    overall = response.context["results"].rows[0].accuracy
    # Three significant digits, as the dashboard writes rates: 0.75 is "75.0%".
    assert percent(overall.accuracy) in html
    assert re.search(r"\d+(\.\d+)? ms</td>", html), "response times in ms"
    for term in ("d′", "criterion c", "fake error", "real error", "HYPE∞", "HYPE-time", "Wilson interval", "Bootstrap"):
        assert term in html, term
    assert 'id="glossary"' in html


def test_chart_data_is_strict_json_for_every_case():
    for generated, annotators in ((1, 1), (2, 2), (4, 3)):
        study = scored_study(generated=generated, annotators=annotators, feedback="randomised")
        json.dumps(chart_data(study_results(study)), allow_nan=False)


def test_a_hostile_pool_label_stays_text_in_the_charts_data(staff_client):
    study = scored_study(generated=1, annotators=1)
    hostile = '</script><script>alert("x")</script>'
    study.study_pools.filter(pool__kind="generated").update(label=hostile)
    html, _ = page(staff_client, study)
    assert "<script>alert" not in html
    assert hostile in [row["label"] for row in charts_json(html)["forest"]]
