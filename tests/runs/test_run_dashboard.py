"""The dashboard: query counts of its pages, the polling protocol, chart data, served images."""

from __future__ import annotations

import math

import pytest
from django.conf import settings
from django.urls import reverse

from runs import actions, views
from runs.models import MetricKind, RunEvent, RunStatus
from testkit.factories import CheckpointFactory, MetricPointFactory, TrainingRunFactory

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
    # Session, user; the count, one page of runs with their newest test error, the filters' choices; the
    # queue's order when a queued run is on the page.
    with django_assert_max_num_queries(6):
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
    ablation = actions.launch_ablation(base)
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


def test_metrics_download_as_csv_one_row_a_step(staff_client):
    run = TrainingRunFactory(status=RunStatus.DONE)
    MetricPointFactory(run=run, step=2, name="loss_d", value=0.5)
    MetricPointFactory(run=run, step=4, name="loss_d", value=math.inf)
    MetricPointFactory(run=run, step=4, name="test_error", kind=MetricKind.EVAL, value=0.125)
    response = staff_client.get(reverse("runs:metrics_csv", args=[run.pk]))
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="run-{run.pk}-metrics.csv"' in response["Content-Disposition"]
    assert response.content.decode().splitlines() == ["step,loss_d,test_error", "2,0.5,", "4,inf,0.125"]


def test_the_comparison_shows_the_settings_that_differ_and_why_a_test_error_is_blank(staff_client):
    a = TrainingRunFactory(status=RunStatus.DONE, settings={"optim.lr": 0.001})
    b = TrainingRunFactory(status=RunStatus.DONE, settings={"data.labels": 0})
    html = staff_client.get(reverse("runs:compare"), {"runs": f"{a.pk},{b.pk}"}).content.decode()
    diff = html.split("Settings that differ")[1]
    assert "<code>optim.lr</code>" in diff and "<code>data.labels</code>" in diff
    assert "<code>optim.steps</code>" not in diff, "only what differs"
    assert "none: no labels" in html


def test_the_workers_page_shows_who_trains_what_and_the_queue(staff_client, settings):
    from django.utils import timezone

    TrainingRunFactory(status=RunStatus.RUNNING, worker_host="gpu0@box pid 7", heartbeat_at=timezone.now(),
                       lease_token="00000000-0000-0000-0000-000000000001")  # fmt: skip
    TrainingRunFactory(name="next up", status=RunStatus.QUEUED, queued_at=timezone.now())
    html = staff_client.get(reverse("runs:workers")).content.decode()
    assert "gpu0@box pid 7" in html and "next up" in html and "set <code>FLOWER_URL</code>" in html
    settings.FLOWER_URL = "http://flower.example:5555/"
    assert 'href="http://flower.example:5555/"' in staff_client.get(reverse("runs:workers")).content.decode()


def test_a_failed_score_shows_its_reason_and_fix_on_the_run_page(staff_client, monkeypatch, tmp_path):
    from runs.models import ImagePool, JobStatus, PoolScore

    monkeypatch.setenv("GAN_SCORER_DIR", str(tmp_path))
    run = TrainingRunFactory(status=RunStatus.DONE)
    pool = ImagePool.objects.create(kind=ImagePool.Kind.GENERATED, run=run, dataset="digits", size=4, step=8,
                                    status=JobStatus.DONE)  # fmt: skip
    PoolScore.objects.create(pool=pool, scorer="digits_cnn", status=JobStatus.FAILED,
                             error="ScorerError: scorer digits_cnn: digits_cnn.json not found")  # fmt: skip
    html = staff_client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "failed: ScorerError: scorer digits_cnn: digits_cnn.json not found" in html
    assert html.index(reverse("admin:runs_domainclassifier_add") + "?dataset=digits") < html.index(
        "train-scorer --dataset digits"
    )


def test_a_sample_grid_of_any_saved_step_is_served(staff_client):
    run = TrainingRunFactory(status=RunStatus.DONE)
    grid = run.run_dir / "samples" / "step_00000004.png"
    grid.parent.mkdir(parents=True)
    grid.write_bytes(b"\x89PNG four")
    assert b"".join(staff_client.get(reverse("runs:sample", args=[run.pk]), {"grid": "4"}).streaming_content) == (
        b"\x89PNG four"
    )
    assert staff_client.get(reverse("runs:sample", args=[run.pk]), {"grid": "6"}).status_code == 404
    page = staff_client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "grid=4" in page
    assert "sample-slider" not in page, "one grid: no slider"
