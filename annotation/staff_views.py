"""The researchers' side (staff only): a study's results page, its CSV exports, and item images for admin."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render

from annotation import images
from annotation.access import visible_studies
from annotation.charts import chart_data, scatters, single_annotator_arms
from annotation.export import csv_response, judgment_rows
from annotation.models import Study, StudyItem
from annotation.plan_form import PlanForm
from annotation.planning import plan_study
from annotation.progress import study_progress
from annotation.results import CURVE_BIN, HUMAN, SIMULATED_CHOICES, Results, study_results, summary_rows
from annotation.simulation.planning import MAX_REPLICATES
from runs import artifact_store

# Prolific replaces these placeholders in a study's URL with the participant's, study's and session's ids.
PROLIFIC_QUERY = "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"


def _study(request: HttpRequest, pk: int) -> Study:
    """The study if this user may see it; 404 otherwise, so that others' studies do not even show they exist."""
    return get_object_or_404(visible_studies(request.user), pk=pk)


def _exclude_flagged(request: HttpRequest) -> bool:
    return request.GET.get("exclude") == "flagged"


def _simulated(request: HttpRequest) -> str:
    """Whose judgments count: people only unless the page asks for simulated observers too, or alone."""
    value = request.GET.get("simulated", HUMAN)
    return value if value in SIMULATED_CHOICES else HUMAN


def _include_dropped(request: HttpRequest) -> bool:
    return request.GET.get("dropped") == "include"


def _results(request: HttpRequest, study: Study) -> Results:
    """The study's results as the page's query asks for them (the results page and its summary CSV alike)."""
    return study_results(
        study,
        exclude_flagged=_exclude_flagged(request),
        simulated=_simulated(request),
        include_dropped=_include_dropped(request),
    )


@staff_member_required
def results(request: HttpRequest, pk: int) -> HttpResponse:
    study = _study(request, pk)
    data = _results(request, study)
    link = request.build_absolute_uri(study.entry_path)
    context = {
        "study": study,
        "results": data,
        "progress": study_progress(study),
        "curve_last": CURVE_BIN - 1,
        "link": link,
        "simulated_count": study.annotators.filter(simulated=True).count(),
        "prolific_link": link + PROLIFIC_QUERY,
        # Numbers for the charts go through json_script, which escapes them for a <script> element.
        "chart_data": chart_data(data),
        "scatters": scatters(data),
        "single_annotator_arms": single_annotator_arms(data),
    }
    return render(request, "annotation/results.html", context)


@staff_member_required
def export_judgments(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    study = _study(request, pk)
    return csv_response(judgment_rows([study.pk]), f"study-{study.pk}-judgments.csv")


@staff_member_required
def export_summary(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    study = _study(request, pk)
    data = _results(request, study)
    return csv_response(summary_rows(data), f"study-{study.pk}-summary.csv")


@staff_member_required
def item_image(request: HttpRequest, pk: int) -> HttpResponse:
    """An item's image for researchers (choosing attention checks), through the annotators' response."""
    item = get_object_or_404(
        StudyItem.objects.select_related("pool", "study").filter(study__in=visible_studies(request.user)), pk=pk
    )
    try:
        served = images.study_image_path(item.study.public_id, item.pk)
        # A draft's images are encoded when it opens: until then, the pool's file as it is.
        return images.image_response(
            served if artifact_store.stored(served) else images.image_path(item.pool, item.file)
        )
    except (images.ImageError, OSError):
        raise Http404("image not found") from None


@staff_member_required
def plan(request: HttpRequest, pk: int) -> HttpResponse:
    """Plan this study: the fewest annotators meeting a goal, by simulation (``annotation.simulation.planning``)."""
    study = _study(request, pk)
    form = PlanForm(request.GET or None, study=study)
    found, error = None, ""
    if form.is_valid():
        try:
            found = plan_study(study, **form.arguments())
        except ValueError as exc:
            error = str(exc)
    context = {"study": study, "form": form, "plan": found, "error": error, "max_replicates": MAX_REPLICATES}
    return render(request, "annotation/plan.html", context)
