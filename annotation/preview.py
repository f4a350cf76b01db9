"""Preview as annotator: a researcher goes through a study's pages as its annotators will (consent, instructions,
practice, images with the study's feedback and timing, the end) before or after opening it, and nothing is
stored as data. The preview's sequence lives in the researcher's own session: no annotator, assignment or
judgment is ever written, so results, exports and the draw of images cannot see it.

The task page and its script are the annotators' own (views.task_page); only the API behind them differs. A
preview draws up to PREVIEW_ITEMS images straight from the study's pools in its shares (real fraction, weights),
without attention checks or qualification, so that a draft can be previewed before its images are fixed.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from annotation import images, readiness, views
from annotation.actions.answers import AssignmentState, Shown
from annotation.actions.errors import StudyError
from annotation.models import Study
from annotation.protocols import get_protocol
from annotation.protocols.sequence import apportion
from runs.models import ImagePool

PREVIEW_ITEMS = 20
ARMS = ("feedback", "no_feedback")


def _key(study: Study) -> str:
    return f"annotation_preview_{study.pk}"


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff only, never cached, under the annotators' content security policy (the page must look as theirs)."""

    @wraps(view)
    def wrapped(request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, get_object_or_404(Study, pk=pk), *args, **kwargs)
        response.setdefault("Content-Security-Policy", views.ANNOTATOR_CSP)  # an image keeps its own, stricter
        return response

    return staff_member_required(never_cache(wrapped))


def draw(study: Study, feedback: bool) -> dict[str, Any]:
    """A preview's sequence: up to PREVIEW_ITEMS images of the study's pools, in its shares, shuffled."""
    pools = list(study.study_pools.select_related("pool"))
    n = min(study.items_per_assignment, PREVIEW_ITEMS)
    n_real = round(n * study.real_fraction)
    rng = random.Random()
    items = []
    for kind, total in ((ImagePool.Kind.REAL, n_real), (ImagePool.Kind.GENERATED, n - n_real)):
        group = [sp for sp in pools if sp.pool.kind == kind]
        for sp, quota in zip(group, apportion(total, [sp.weight for sp in group]), strict=True):
            try:
                names = [image.file for image in images.read_manifest(sp.pool)]
            except images.ImageError as exc:
                raise StudyError(str(exc)) from None
            for name in rng.sample(names, min(quota, len(names))):
                items.append([sp.pool_id, name, kind == ImagePool.Kind.REAL, secrets.token_urlsafe(16)])
    rng.shuffle(items)
    return {
        "items": items,
        "answered": 0,
        "stage": "test",
        "feedback": feedback,
        "exposure": get_protocol(study.protocol).first_exposure(),
        "shown": {},  # exposure fixed per item when first served, as the server does for annotators
    }


def _progress(study: Study, preview: dict[str, Any]) -> dict[str, Any]:
    items, answered, stage = preview["items"], preview["answered"], preview["stage"]
    block_size = study.block_size or max(len(items), 1)
    item = None
    if stage == "test" and answered == len(items):
        stage = "complete"
    if stage == "test":
        token = items[answered][3]
        exposure = preview["shown"].setdefault(token, preview["exposure"])
        item = Shown(token=token, block=answered // block_size, exposure_ms=exposure)
    progress = AssignmentState(
        stage=stage,
        phase="test",
        done=answered,
        total=len(items),
        answered=answered,
        blocks=max(1, -(-len(items) // block_size)),
        item=item,
    )
    state = views.state(progress)
    if item is not None:
        state["item"]["src"] = reverse("annotation:preview_image", args=[study.pk, item.token])
    return state


@staff_page
@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, study: Study) -> HttpResponse:
    """The entry page as annotators see it; consenting starts a new preview (the arm chosen by ``arm``)."""
    arm = request.POST.get("arm", request.GET.get("arm", ""))
    feedback = study.feedback == Study.Feedback.EACH or (
        study.feedback == Study.Feedback.RANDOMISED and arm != "no_feedback"
    )
    found = readiness.pool_problems(study, list(study.study_pools.select_related("pool__run")))
    if found:
        message = "This study cannot be previewed yet: " + "; ".join(map(str, found))
        return render(request, "annotation/message.html", {"study": study, "message": message}, status=409)
    if request.method == "POST":
        if request.POST.get("consent") != "yes":
            message = "Please tick the consent box to take part."
            return render(request, "annotation/message.html", {"study": study, "message": message}, status=400)
        try:
            request.session[_key(study)] = draw(study, feedback)
        except StudyError as exc:
            return render(request, "annotation/message.html", {"study": study, "message": str(exc)}, status=409)
        return redirect("annotation:preview_task", study.pk)
    context = {
        "study": study,
        "preview": False,
        "open": True,
        "fields": {"arm": arm} if arm in ARMS else {},
        "timed": get_protocol(study.protocol).timed,
        "staff_preview": True,
    }
    return render(request, "annotation/entry.html", context)


@staff_page
@require_GET
def task(request: HttpRequest, study: Study) -> HttpResponse:
    preview = request.session.get(_key(study))
    if preview is None:
        return redirect("annotation:preview", study.pk)
    names = ("state", "answer", "finish", "withdraw")
    urls = {name: reverse(f"annotation:preview_{name}", args=[study.pk]) for name in names}
    return views.task_page(
        request, study, urls, feedback=preview["feedback"], platform="code", preview=True, csrf_token=get_token(request)
    )


def preview_api(method: str) -> Callable[[Callable[..., JsonResponse]], Callable[..., HttpResponse]]:
    """The preview's API: staff only (CSRF-checked, as every staff form), and the session's preview or 404."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., HttpResponse]:
        @staff_page
        @views.json_api(method)
        @wraps(view)
        def wrapped(request: HttpRequest, study: Study) -> JsonResponse:
            preview = request.session.get(_key(study))
            if preview is None:
                return JsonResponse({"error": "No preview under way: open the preview link again."}, status=404)
            response = view(request, study, preview)
            request.session[_key(study)] = preview
            return response

        return wrapped

    return decorate


@preview_api("GET")
def api_state(request: HttpRequest, study: Study, preview: dict[str, Any]) -> JsonResponse:
    return JsonResponse(_progress(study, preview))


@preview_api("POST")
def api_answer(request: HttpRequest, study: Study, preview: dict[str, Any]) -> JsonResponse:
    """Checked as an annotator's answer is, then forgotten: only the preview's place in its sequence moves."""
    try:
        token, answer, _, _ = views._answer_body(request)
    except views._Malformed as malformed:
        return JsonResponse({"error": str(malformed)}, status=malformed.status)
    current = _progress(study, preview)["item"]
    if current is None or current["token"] != token:
        return JsonResponse({"error": "Answer the image on screen: this one is not it."}, status=409)
    truth_real = preview["items"][preview["answered"]][2]
    correct = (answer == "real") == truth_real
    preview["exposure"] = get_protocol(study.protocol).next_exposure(preview["exposure"], correct)
    preview["answered"] += 1
    feedback = {"correct": correct, "truth": "real" if truth_real else "generated"} if preview["feedback"] else None
    return JsonResponse({"stored": False, "feedback": feedback, "state": _progress(study, preview)})


@preview_api("POST")
def api_finish(request: HttpRequest, study: Study, preview: dict[str, Any]) -> JsonResponse:
    if preview["answered"] < len(preview["items"]) and preview["stage"] == "test":
        return JsonResponse({"error": "Answer every image first."}, status=409)
    preview["stage"] = "submitted"
    return JsonResponse(
        {"kind": "code", "code": study.completion_code, "url": "", "fields": {}, "disqualified": False, "preview": True}
    )


@preview_api("POST")
def api_withdraw(request: HttpRequest, study: Study, preview: dict[str, Any]) -> JsonResponse:
    preview["stage"] = "withdrawn"
    return JsonResponse({"kind": "code", "withdrawn": True})


@staff_page
@require_GET
def image(request: HttpRequest, study: Study, token: str) -> HttpResponse:
    """The preview's current image, through the annotators' one response."""
    preview = request.session.get(_key(study))
    current = _progress(study, preview)["item"] if preview else None
    if current is None or current["token"] != token:
        return HttpResponse(status=404)
    pool_id, name = preview["items"][preview["answered"]][:2]
    pool = get_object_or_404(ImagePool, pk=pool_id)
    try:
        return images.image_response(images.image_path(pool, name))
    except (images.ImageError, OSError):
        return HttpResponse(status=404)
