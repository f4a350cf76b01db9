"""The researchers' dashboard (staff only): runs with progress bars, a live run page, and runs side by side.

Pages refresh their parts with htmx polling; a fragment of a run that is no longer active answers with
HTTP 286, htmx's signal to stop polling. Charts fetch their series as JSON and draw them with uPlot.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from gan_engine import run_folder
from gan_engine.config import ABLATIONS
from runs import planning
from runs.admin import score_html
from runs.artifact_store import ArtifactPathError, artifact_store
from runs.models import (
    LEASED_STATUSES,
    Ablation,
    DomainClassifier,
    ImagePool,
    JobStatus,
    MetricKind,
    MetricPoint,
    PoolScore,
    RunStatus,
    TrainingRun,
    artifact_path,
)

STOP_POLLING = 286  # htmx: stop polling this element
LOG_TAIL = 40
MAX_POINTS = 2000  # per series sent to a chart; longer series are thinned evenly
RUNS_PER_PAGE = 50


def _with_summary(runs: QuerySet[TrainingRun]) -> QuerySet[TrainingRun]:
    """Runs annotated with their newest test error: one query for the whole table."""
    newest = MetricPoint.objects.filter(run=OuterRef("pk"), name="test_error").order_by("-step").values("value")[:1]
    return runs.annotate(test_error=Subquery(newest))


@staff_member_required
def run_list(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/run_list.html", _table_context(request))


@staff_member_required
def run_table(request: HttpRequest) -> HttpResponse:
    context = _table_context(request)
    return render(request, "runs/_run_table.html", context, status=200 if context["any_active"] else STOP_POLLING)


def _table_context(request: HttpRequest) -> dict[str, Any]:
    """One page of runs, searched (name, notes, id) and filtered (status, recipe, dataset) from the query."""
    runs = TrainingRun.objects.select_related("ablation")
    query = request.GET.get("q", "").strip()
    if query:
        match = Q(name__icontains=query) | Q(notes__icontains=query)
        runs = runs.filter(match | Q(pk=int(query.lstrip("#"))) if query.lstrip("#").isdigit() else match)
    filters = {key: request.GET.get(key, "") for key in ("status", "recipe", "dataset")}
    runs = runs.filter(**{key: value for key, value in filters.items() if value})
    page = Paginator(_with_summary(runs), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    positions = planning.queue_positions() if any(run.status == RunStatus.QUEUED for run in page) else {}
    for run in page:
        run.queue_position = positions.get(run.pk)
    choices = set(TrainingRun.objects.order_by().values_list("recipe", "dataset").distinct())
    return {
        "runs": page,
        "page": page,
        "query": query,
        "filters": filters,
        "querystring": request.GET.urlencode(),
        "statuses": RunStatus.choices,
        "recipes": sorted({recipe for recipe, _ in choices}),
        "datasets": sorted({dataset for _, dataset in choices}),
        "any_active": any(run.is_active for run in page),
    }


@staff_member_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "runs/run_detail.html", _live_context(pk))


@staff_member_required
def run_live(request: HttpRequest, pk: int) -> HttpResponse:
    context = _live_context(pk)
    return render(request, "runs/_run_live.html", context, status=200 if context["run"].is_active else STOP_POLLING)


def _live_context(pk: int) -> dict[str, Any]:
    run = get_object_or_404(TrainingRun.objects.select_related("ablation", "source_run", "created_by"), pk=pk)
    events = list(run.events.order_by("-id")[:LOG_TAIL])[::-1]
    pools = list(run.pools.prefetch_related("scores").order_by("-created_at")[:20])
    for pool in pools:
        pool.score_lines = [score_html(score) for score in pool.scores.all()]
    return {
        "run": run,
        "checkpoints": list(run.checkpoints.filter(pruned=False).order_by("-step")),
        "pools": pools,
        "events": events,
        "queue_position": planning.queue_position(run),
        "grids": _grid_steps(run),
    }


def _grid_steps(run: TrainingRun) -> list[int]:
    """The steps of every stored sample grid, oldest first (the slider's stops)."""
    names = artifact_store().list(f"{run.run_dir_name}/{run_folder.SAMPLES_DIR}")
    return sorted(step for name in names if (step := run_folder.grid_step(name)) is not None)


@staff_member_required
def run_metrics(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    return JsonResponse(
        {"active": run.is_active, "step": run.step, "series": _series(MetricPoint.objects.filter(run=run))}
    )


def _finite(value: float | None) -> float | None:
    # A diverged loss is NaN or infinite: JSON has no such numbers, and a chart shows a gap.
    return value if value is not None and math.isfinite(value) else None


def _series(points: QuerySet[MetricPoint]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    rows = points.order_by("name", "step").values_list("name", "kind", "step", "value", "std")
    for name, kind, step, value, std in rows:
        series = grouped.setdefault(name, {"kind": kind, "steps": [], "values": [], "std": []})
        series["steps"].append(step)
        series["values"].append(_finite(value))
        series["std"].append(_finite(std))
    for series in grouped.values():
        n = len(series["steps"])
        if n > MAX_POINTS:
            keep = sorted({round(i * (n - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})
            for key in ("steps", "values", "std"):
                series[key] = [series[key][i] for i in keep]
    return grouped


@staff_member_required
def run_metrics_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Every metric point of the run, one row a step and one column a series (blank where a series has no
    value at that step; a diverged value as nan), for a spreadsheet or pandas."""
    run = get_object_or_404(TrainingRun, pk=pk)
    rows: dict[int, dict[str, float]] = defaultdict(dict)
    names: dict[str, None] = {}
    for name, step, value in run.metric_points.order_by("step", "name").values_list("name", "step", "value"):
        rows[step][name] = value
        names.setdefault(name)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-metrics.csv"'
    writer = csv.writer(response)
    writer.writerow(["step", *sorted(names)])
    for step in sorted(rows):
        writer.writerow([step, *(repr(rows[step][n]) if n in rows[step] else "" for n in sorted(names))])
    return response


@staff_member_required
def run_sample(request: HttpRequest, pk: int) -> FileResponse:
    """The newest sample grid, or with ``?grid=N`` the grid written at step N (the slider's)."""
    run = get_object_or_404(TrainingRun, pk=pk)
    grid = request.GET.get("grid", "")
    if grid.isdigit():
        relative = str(run_folder.grid_path(run.run_dir_name, int(grid)))
    elif run.sample_grid:
        relative = run.sample_grid
    else:
        raise Http404("no sample grid yet")
    if not artifact_path(relative).resolve().is_relative_to(settings.ARTIFACTS_DIR):
        raise Http404("sample grid not found")
    try:
        grid_bytes = artifact_store().read_bytes(relative)
    except (FileNotFoundError, ArtifactPathError):
        raise Http404("sample grid not found") from None
    response = FileResponse(io.BytesIO(grid_bytes), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"  # the URL carries the step: a new grid is a new URL
    return response


@staff_member_required
def workers(request: HttpRequest) -> HttpResponse:
    """Who trains what, from the runs' leases (no broker round trip), and what waits in the queue."""
    now = timezone.now()
    training = list(TrainingRun.objects.filter(status__in=LEASED_STATUSES).order_by("worker_host", "pk"))
    for run in training:
        run.stalled = run.lease_expired(now)
    queued = list(TrainingRun.objects.filter(status=RunStatus.QUEUED).order_by("queued_at", "pk")[:RUNS_PER_PAGE])
    jobs = {
        "pools": ImagePool.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).count(),
        "scores": PoolScore.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).count(),
        "classifiers": DomainClassifier.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).count(),
    }
    return render(
        request,
        "runs/workers.html",
        {"training": training, "queued": queued, "jobs": jobs, "flower_url": settings.FLOWER_URL},
    )


@staff_member_required
def compare(request: HttpRequest) -> HttpResponse:
    ids = [int(part) for value in request.GET.getlist("runs") for part in value.split(",") if part.strip().isdigit()]
    runs = list(_with_summary(TrainingRun.objects.filter(pk__in=ids)).order_by("pk"))
    return render(request, "runs/compare.html", _compare_context(runs, title="Runs side by side", ablation=None))


@staff_member_required
def ablation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ablation = get_object_or_404(Ablation.objects.select_related("base_run"), pk=pk)
    order = {name: i for i, name in enumerate(ABLATIONS)}
    runs = sorted(_with_summary(ablation.runs.all()), key=lambda run: order.get(run.ablation_variant, len(order)))
    return render(request, "runs/compare.html", _compare_context(runs, title=ablation.name, ablation=ablation))


def _compare_context(runs: list[TrainingRun], *, title: str, ablation: Ablation | None) -> dict[str, Any]:
    """The paper's table: one row per run with its newest evaluation and scores, and test-error curves."""
    points = MetricPoint.objects.filter(run__in=runs, kind__in=[MetricKind.EVAL, MetricKind.SCORE])
    newest: dict[int, dict[str, MetricPoint]] = defaultdict(dict)
    curves: dict[str, dict[str, list[Any]]] = {}
    for point in points.order_by("run_id", "name", "step"):
        newest[point.run_id][point.name] = point
        if point.name == "test_error":
            curve = curves.setdefault(str(point.run_id), {"steps": [], "values": []})
            curve["steps"].append(point.step)
            curve["values"].append(_finite(point.value))
    columns = sorted({name for by_name in newest.values() for name in by_name if name != "test_error"})
    rows = [
        {
            "run": run,
            "scores": [newest[run.pk].get(name) for name in columns],
            "label": run.ablation_variant or run.name,
            "no_test_error": planning.no_test_error_reason(run.config),
        }
        for run in runs
    ]
    return {
        "title": title,
        "ablation": ablation,
        "rows": rows,
        "columns": columns,
        "config_diff": _config_diff(runs),
        "curves": {"labels": {str(run.pk): run.ablation_variant or run.name for run in runs}, "series": curves},
        "any_active": any(run.status in (RunStatus.QUEUED, RunStatus.RUNNING) for run in runs),
    }


def _config_diff(runs: list[TrainingRun]) -> dict[str, Any]:
    """The settings on which the runs disagree: field → one value per run, in the table's order."""
    flat = [planning.flatten(run.config) for run in runs]
    names = dict.fromkeys(name for config in flat for name in config)
    fields = [name for name in names if len({repr(config.get(name)) for config in flat}) > 1]
    return {"runs": runs, "rows": [(name, [config.get(name) for config in flat]) for name in fields]}
