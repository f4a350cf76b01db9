"""A study's results page in a real browser: its charts (forest plot, learning curves, scatters) draw on canvases
of real size with their legends, without a console error, on a desktop and on a phone without sideways scrolling."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from testkit.browser import logged_in
from testkit.factories import scored_study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

CHARTS = ("#forest-chart", "#curve-chart", "#scatter-chart-0", "#scatter-chart-1")
# Painted pixels on a canvas: a chart that only drew its background has none.
PAINTED = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}"""


def _open_results(page: Any, live_server: Any) -> list[str]:
    study = scored_study(generated=4, annotators=4, feedback="randomised")
    errors: list[str] = []
    # The browser's own request for a favicon is no error of the page's.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page = logged_in(page, live_server)
    page.goto(live_server.url + reverse("annotation:results", args=[study.pk]))
    return errors


def _assert_charts_drawn(page: Any, max_width: int) -> None:
    for chart in CHARTS:
        canvas = page.wait_for_selector(f"{chart} canvas")
        box = canvas.bounding_box()
        assert box["width"] > 100 and box["height"] > 100, (chart, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= max_width, (chart, box)
        assert canvas.evaluate(PAINTED) > 500, f"{chart} drew nothing"
    legends = {chart: page.inner_text(f"{chart} .u-legend") for chart in CHARTS}
    assert "fake error" in legends["#forest-chart"] and "real error" in legends["#forest-chart"]
    assert "chance (50.0%)" in legends["#forest-chart"] and "chance (50.0%)" in legends["#curve-chart"]
    assert "feedback (2 annotators)" in legends["#curve-chart"]
    assert "least-squares fit" in legends["#scatter-chart-0"]
    assert "score ± std" in legends["#scatter-chart-0"] or "score ± std" in legends["#scatter-chart-1"]


def test_the_results_charts_draw_on_a_desktop(live_server, desktop):
    errors = _open_results(desktop, live_server)
    _assert_charts_drawn(desktop, 1280)
    assert errors == []


def test_the_results_charts_fit_a_phone(live_server, phone):
    errors = _open_results(phone, live_server)
    _assert_charts_drawn(phone, 390)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "the page fits the phone"
    assert errors == []
