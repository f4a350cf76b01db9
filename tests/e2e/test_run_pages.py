"""The researcher's dashboard in a real browser: charts to TensorBoard's standard (separate axes, log scale,
smoothing, resizing), the sample grids' slider, and pages that fit a phone."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image

from runs.models import MetricKind, MetricPoint, RunStatus, TrainingRun
from testkit.browser import logged_in

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {
    "recipe": "improved_gan_ssl",
    "data": {"dataset": "digits", "labels": 20},
    "optim": {"batch_size": 20, "steps": 300},
    "model": {"architecture": "paper_mlp", "width": 0.1},
}


def _grid(path: Any, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("L", (40, 40), shade).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


def _run(**fields: Any) -> TrainingRun:
    defaults = {"name": "a long run name that must wrap on a phone", "config": TINY, "recipe": "improved_gan_ssl"}
    return TrainingRun.objects.create(**{**defaults, "dataset": "digits", "total_steps": 300, **fields})


def _history(run: TrainingRun) -> None:
    points = []
    for step in range(10, 301, 10):
        points += [
            MetricPoint(run=run, name="loss_d", kind=MetricKind.LOSS, step=step, value=2.0 / step + 0.1),
            MetricPoint(run=run, name="loss_g", kind=MetricKind.LOSS, step=step, value=5.0 / step + 0.5),
        ]
        if step % 100 == 0:
            points.append(MetricPoint(run=run, name="test_error", kind=MetricKind.EVAL, step=step, value=0.3 / step))
        # The loop reports the training error with its losses: it belongs with the errors all the same.
        points.append(MetricPoint(run=run, name="train_error", kind=MetricKind.LOSS, step=step, value=0.1 / step))
    MetricPoint.objects.bulk_create(points)


def test_the_run_page_on_a_phone_charts_like_tensorboard_and_slides_through_every_grid(live_server, phone):
    run = _run(status=RunStatus.DONE, step=300)
    _history(run)
    for step, shade in ((100, 40), (200, 120), (300, 220)):
        _grid(run.run_dir / "samples" / f"step_{step:08d}.png", shade)
    run.sample_grid, run.sample_step = f"{run.run_dir_name}/samples/step_00000300.png", 300
    run.save()

    page = logged_in(phone, live_server)
    page.goto(live_server.url + run.get_absolute_url())
    page.wait_for_selector(".chart .uplot")
    page.wait_for_function("document.querySelectorAll('.chart .uplot').length === 2")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page fits the phone"
    titles = page.eval_on_selector_all(".chart .u-title", "els => els.map(e => e.textContent)")
    assert titles == ["losses", "error rates"], "losses and errors on separate axes"
    chart_width = page.eval_on_selector(".chart canvas", "c => c.getBoundingClientRect().width")
    assert chart_width <= 380
    # Smoothing on by default: the raw curve stays, faint, behind the smoothed one.
    legend = page.eval_on_selector_all(
        ".chart[data-title='losses'] .u-legend .u-label", "els => els.map(e => e.textContent)"
    )
    assert "loss_d (raw)" in legend and "loss_d" in legend and "train_error" not in legend
    errors = page.eval_on_selector_all(
        ".chart[data-title='error rates'] .u-legend .u-label", "els => els.map(e => e.textContent)"
    )
    assert {"test_error", "train_error"} <= set(errors)
    page.fill("#smoothing", "0")
    page.dispatch_event("#smoothing", "input")
    page.wait_for_function(
        "!document.querySelector(\".chart[data-title='losses'] .u-legend\").textContent.includes('raw')"
    )
    page.check("#log-scale")
    page.wait_for_function(
        "document.querySelector(\".chart[data-title='losses'] .u-title\").textContent.includes('log scale')"
    )

    # The slider walks every saved grid, not only the newest.
    img = page.locator("#sample-grid")
    assert img.get_attribute("src").endswith("grid=300")
    page.fill("#sample-slider", "0")
    page.dispatch_event("#sample-slider", "input")
    page.wait_for_function("document.getElementById('sample-grid').src.endsWith('grid=100')")
    page.wait_for_function(
        "document.getElementById('sample-grid').complete && document.getElementById('sample-grid').naturalWidth === 40"
    )
    assert page.text_content("#sample-step") == "100"

    # Wider window, wider charts: they follow their column.
    page.set_viewport_size({"width": 1200, "height": 800})
    page.wait_for_function("document.querySelector('.chart canvas').getBoundingClientRect().width > 400")


def test_the_runs_list_searches_filters_pages_and_fits_a_phone(live_server, phone):
    for i in range(55):
        _run(name=f"sweep {i}", status=RunStatus.DONE)
    first = _run(name="waiting one", status=RunStatus.QUEUED, queued_at="2026-01-01T00:00:00Z")
    _run(name="waiting two", status=RunStatus.QUEUED, queued_at="2026-01-02T00:00:00Z")
    page = logged_in(phone, live_server)
    page.goto(live_server.url + reverse("runs:list"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "page 1 of 2 (57 runs)" in page.text_content(".pages")
    page.select_option("select[name=status]", "queued")
    page.click("form.filters button")
    page.wait_for_url("**status=queued**")
    rows = page.locator("#run-table tbody tr")
    assert rows.count() == 2
    assert "#1 in queue" in rows.filter(has_text="waiting one").text_content()
    assert "#2 in queue" in rows.filter(has_text="waiting two").text_content()
    page.fill("input[name=q]", "waiting two")
    page.click("form.filters button")
    page.wait_for_url("**q=waiting+two**")
    assert page.locator("#run-table tbody tr").count() == 1
    page.goto(live_server.url + first.get_absolute_url())
    assert "next in the queue" in page.text_content(".status-line")
    for name in ("Pools", "Studies", "Workers"):
        assert page.locator("header nav a", has_text=name).count() == 1
