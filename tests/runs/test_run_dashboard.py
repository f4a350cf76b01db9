"""The dashboard: query counts of its pages, the polling protocol, chart data, served images."""

from __future__ import annotations

import math

import pytest
from django.conf import settings
from django.urls import reverse
from run_factories import CheckpointFactory, MetricPointFactory, TrainingRunFactory

from webapp.runs import services, views
from webapp.runs.models import MetricKind, RunEvent, RunStatus

pytestmark = pytest.mark.django_db


def _run_with_history(**fields: object):
    run = TrainingRunFactory(**fields)
    for step in range(2, 9, 2):
        MetricPointFactory(run=run, step=step, name="loss_d")
        MetricPointFactory(run=run, step=step, name="loss_g")
        CheckpointFactory(run=run, step=step)
        RunEvent.objects.create(run=run, message=f"step {step}")
    MetricPointFactory(run=run, step=8, name="test_error", kind=MetricKind.EVAL, value=0.25)
    return run


def test_the_runs_page_costs_the_same_few_queries_for_many_runs(staff_client, django_assert_max_num_queries):
    for i in range(12):
        _run_with_history(status=RunStatus.RUNNING if i % 2 else RunStatus.DONE)
    with django_assert_max_num_queries(4):  # session, user, the runs with their newest test error
        response = staff_client.get(reverse("runs:list"))
    assert response.status_code == 200
    assert response.content.count(b"25.0%") == 12
    assert b'hx-trigger="every 2s"' in response.content


def test_the_run_page_and_its_live_parts_stay_within_a_few_queries(staff_client, django_assert_max_num_queries):
    run = _run_with_history(status=RunStatus.RUNNING, step=8)
    CheckpointFactory(run=run, step=10, pruned=True)
    with django_assert_max_num_queries(7):
        page = staff_client.get(reverse("runs:detail", args=[run.pk]))
    assert page.status_code == 200
    assert b"step 8 " in page.content and b"step 10 " not in page.content, "pruned checkpoints are not listed"
    with django_assert_max_num_queries(7):
        live = staff_client.get(reverse("runs:live", args=[run.pk]))
    assert live.status_code == 200
    with django_assert_max_num_queries(4):
        data = staff_client.get(reverse("runs:metrics", args=[run.pk])).json()
    assert data["active"] is True
    assert data["series"]["loss_d"]["steps"] == [2, 4, 6, 8]
    assert data["series"]["test_error"] == {"kind": "eval", "steps": [8], "values": [0.25], "std": [None]}


def test_polling_stops_once_nothing_is_active(staff_client):
    run = _run_with_history(status=RunStatus.DONE)
    assert staff_client.get(reverse("runs:live", args=[run.pk])).status_code == views.STOP_POLLING
    assert staff_client.get(reverse("runs:table")).status_code == views.STOP_POLLING
    page = staff_client.get(reverse("runs:detail", args=[run.pk]))
    assert b"hx-trigger" not in page.content


def test_chart_data_turns_a_diverged_loss_into_a_gap_and_thins_long_series(staff_client):
    run = TrainingRunFactory(status=RunStatus.RUNNING)
    MetricPointFactory(run=run, step=1, value=math.nan)
    MetricPointFactory.create_batch(views.MAX_POINTS + 500, run=run, name="loss_g")
    data = staff_client.get(reverse("runs:metrics", args=[run.pk])).json()
    assert data["series"]["loss_d"]["values"] == [None]
    thinned = data["series"]["loss_g"]["steps"]
    assert len(thinned) == views.MAX_POINTS and thinned == sorted(thinned)


def test_sample_grids_are_served_from_the_artifacts_folder_only(staff_client):
    run = TrainingRunFactory(status=RunStatus.DONE)
    url = reverse("runs:sample", args=[run.pk])
    assert staff_client.get(url).status_code == 404

    grid = run.run_dir / "samples" / "step_00000008.png"
    grid.parent.mkdir(parents=True)
    grid.write_bytes(b"\x89PNG fake")
    run.sample_grid, run.sample_step = f"{run.run_dir_name}/samples/step_00000008.png", 8
    run.save()
    assert b"".join(staff_client.get(url).streaming_content) == b"\x89PNG fake"

    outside = settings.ARTIFACTS_DIR.parent / "secret.png"
    outside.write_bytes(b"no")
    run.sample_grid = "../secret.png"
    run.save()
    assert staff_client.get(url).status_code == 404


def test_the_ablation_page_is_the_paper_table(staff_client, django_assert_max_num_queries):
    base = TrainingRunFactory(
        settings={
            f"techniques.{name}": True for name in ("virtual_batch_norm", "label_smoothing", "minibatch_discrimination")
        },
        status=RunStatus.DONE,
    )
    ablation = services.launch_ablation(base)
    runs = {run.ablation_variant: run for run in ablation.runs.all()}
    MetricPointFactory(run=runs["-LS"], step=8, name="IS (inception)", kind=MetricKind.SCORE, value=6.5, std=0.12)
    MetricPointFactory(run=runs["-LS"], step=8, name="test_error", kind=MetricKind.EVAL, value=0.1)

    with django_assert_max_num_queries(6):
        page = staff_client.get(reverse("runs:ablation", args=[ablation.pk]))
    html = page.content.decode()
    order = [html.index(f'<th scope="row">{variant}</th>') for variant in ("our_methods", "-VBN+BN", "-L+HA", "-LS")]
    assert order == sorted(order), "rows in the paper's order"
    assert "6.50 ± 0.12" in html and "10.0%" in html

    ids = ",".join(str(run.pk) for run in runs.values())
    assert staff_client.get(reverse("runs:compare"), {"runs": ids}).status_code == 200
