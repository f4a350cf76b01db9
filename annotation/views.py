"""The annotator's side: entry links (MTurk, Prolific, invitations), the task page, its JSON API, and images.

An annotator is whoever holds an assignment's token: it is in the task page's URL (MTurk shows the page in a
cross-site iframe, where cookies may be blocked, so the URL must carry it), and every query of these views
is filtered by it. The API takes no cookie-borne credential, so a forged cross-site post has nothing to ride
on; posts are still refused when the browser says they come from another origin, and each address's posts
are rate-limited. The entry link alone reads a cookie: the signed one naming the assignment this browser began,
its proof for resuming it (SameSite=Lax, so no other site's post carries it).

Nothing here tells real from generated before the answer is stored: the state names an image by its
opaque token only, the same fields for every image, and the truth appears in an answer's response only for
an annotator in the feedback arm, after the judgment is committed.

A judgment costs one request: the state (the answer's response, or a state request at the start and on a reload)
carries the current image's bytes, those the image address serves, so the page need not ask for them. Only the
item the server has made current is ever sent, and only to its assignment's token.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from annotation import images, ratelimit
from annotation.actions import answers
from annotation.actions.assignments import MTURK_SUBMIT_HOSTS, Entry, start_assignment
from annotation.actions.completion import completion, finish_assignment, withdraw_assignment
from annotation.actions.errors import Refused
from annotation.models import TOKEN_PATTERN, Annotator, Assignment, InputKind, Study, secret_token
from annotation.protocols import get_protocol

MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
MTURK_ORIGINS = " ".join(MTURK_SUBMIT_HOSTS)
# The annotator's pages run only their own script and style, talk only to this site, may be framed by MTurk
# alone, and post forms only here and to MTurk's externalSubmit. Images come from here, or from the object URLs the
# page makes of the bytes the state carries.
ANNOTATOR_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    f"form-action 'self' {MTURK_ORIGINS}; frame-ancestors 'self' {MTURK_ORIGINS}; base-uri 'none'; object-src 'none'"
)
PARAM_MAX = 128
ITEM_TOKEN = re.compile(TOKEN_PATTERN)
INVITEE_SESSION_KEY = "annotation_invitee"
ASSIGNMENT_COOKIE_SALT = "annotation.assignment"
ASSIGNMENT_COOKIE_SECONDS = 30 * 24 * 3600
# The browser's timing of the HYPE-time presentation (protocols/hype_time.py).
COUNTDOWN_MS = 500
MASKS = 4
MASK_MS = 30
# What the browser may report of how an image was seen (answers.Display): CSS pixels, and the device's ratio.
VIEWPORT_MAX = 100_000
PIXEL_RATIO_MIN = 0.01
PIXEL_RATIO_MAX = 64
# What it may report of a timed image's presentation (answers.Display): the refresh interval (1000 Hz to 1 Hz),
# frame counts, and animation-frame timestamps on the page's clock (ms since it opened: up to about 115 days).
REFRESH_MIN_MS = 1
REFRESH_MAX_MS = 1000
FRAMES_MAX = 100_000
CLOCK_MAX_MS = 10**10


def annotator_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Framable by MTurk only, never cached, under the annotator's content security policy."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = ANNOTATOR_CSP
        return response

    return xframe_options_exempt(never_cache(wrapped))


def _from_this_site(request: HttpRequest) -> bool:
    """False when the browser says the post comes from another site (its Origin header)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent by a browser page, so not a forged cross-site request
    trusted = {urlsplit(url).netloc for url in settings.CSRF_TRUSTED_ORIGINS}
    return urlsplit(origin).netloc in {request.get_host(), *trusted}


def guarded_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The annotator's posts: same-origin and within the address's rate limit, or refused before any work."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            if not _from_this_site(request):
                return _refusal(request, "This request came from another site.", 403)
            if not ratelimit.allow(request):
                response = _refusal(request, "Too many requests: wait a minute and try again.", 429)
                response["Retry-After"] = str(ratelimit.WINDOW_SECONDS)
                return response
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)


def _refusal(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if request.content_type == "application/json" or request.headers.get("Accept") == "application/json":
        return JsonResponse({"error": message}, status=status)
    return render(request, "annotation/message.html", {"message": message}, status=status)


def _param(values: Any, name: str) -> str:
    value = str(values.get(name, "")).strip()
    if len(value) > PARAM_MAX:
        raise Refused(f"{name} is too long.", 400)
    # No platform sends control characters, and the database could not store a NUL.
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise Refused(f"{name} holds characters a link cannot have.", 400)
    return value


def _entry(request: HttpRequest, values: Any) -> Entry | None:
    """Who arrives, from the platform's parameters; None for an MTurk preview (the HIT not accepted yet)."""
    if "assignmentId" in values:
        if values["assignmentId"] == MTURK_PREVIEW:
            return None
        return Entry(
            platform=Annotator.Platform.MTURK,
            worker_id=_param(values, "workerId"),
            assignment_id=_param(values, "assignmentId"),
            group=_param(values, "hitId"),
            submit_to=_param(values, "turkSubmitTo") or MTURK_SUBMIT_HOSTS[0],
        )
    if "PROLIFIC_PID" in values:
        return Entry(
            platform=Annotator.Platform.PROLIFIC,
            worker_id=_param(values, "PROLIFIC_PID"),
            assignment_id=_param(values, "SESSION_ID"),
            group=_param(values, "STUDY_ID"),
        )
    return Entry(platform=Annotator.Platform.INVITE, worker_id=_invitee_id(request))


def _platform_fields(values: Any) -> dict[str, str]:
    names = ("assignmentId", "hitId", "workerId", "turkSubmitTo", "PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
    return {name: str(values[name])[:PARAM_MAX] for name in names if name in values}


def _returning(request: HttpRequest, study: Study, entry: Entry) -> Assignment | None:
    """The assignment this browser proves to hold already, so that it resumes (or, finished, shows its code
    again). Proof is the platform's session (MTurk's workerId with its assignmentId, Prolific's PID with its
    SESSION_ID), the invitation's own session, or the signed cookie set when the assignment began; a worker id
    alone proves nothing, since anyone can type it into the link."""
    mine = Assignment.objects.filter(study=study, annotator__platform=entry.platform)
    if entry.worker_id and entry.assignment_id:
        return mine.filter(annotator__external_id=entry.worker_id, external_id=entry.assignment_id).first()
    held = _cookie_assignment(request, study)
    if held is not None and (not entry.worker_id or held.annotator.external_id == entry.worker_id):
        return held
    if entry.platform == Annotator.Platform.INVITE and entry.worker_id:
        return mine.filter(annotator__external_id=entry.worker_id).order_by("-created_at", "-id").first()
    return None


def _cookie_name(study: Study) -> str:
    return f"annotation_{study.public_id}"


def _cookie_assignment(request: HttpRequest, study: Study) -> Assignment | None:
    token = request.get_signed_cookie(_cookie_name(study), default=None, salt=ASSIGNMENT_COOKIE_SALT)
    if token is None:
        return None
    return Assignment.objects.select_related("annotator").filter(study=study, token=token).first()


def _to_assignment(request: HttpRequest, study: Study, assignment: Assignment, status: int = 302) -> HttpResponse:
    """Send the browser to its assignment, and remember the assignment in a signed cookie that only this study's
    entry link receives (HttpOnly: no script reads it; SameSite: no other site's page sends it)."""
    response = redirect(assignment)
    response.status_code = status
    response.set_signed_cookie(
        _cookie_name(study),
        assignment.token,
        salt=ASSIGNMENT_COOKIE_SALT,
        max_age=ASSIGNMENT_COOKIE_SECONDS,
        path=study.entry_path,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


@annotator_page
@guarded_post
@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, public_id: str) -> HttpResponse:
    """GET: the consent form and instructions (an MTurk preview: the instructions only). POST: consent given,
    the assignment starts (or resumes), and the browser goes to the task page."""
    study = get_object_or_404(Study.objects.exclude(status=Study.Status.DRAFT), public_id=public_id)
    values = request.POST if request.method == "POST" else request.GET
    try:
        who = _entry(request, values)
        returning = _returning(request, study, who) if who is not None else None
        if returning is not None:
            return _to_assignment(request, study, returning)
        if request.method == "POST" and who is not None:
            if values.get("consent") != "yes":
                raise Refused("Please tick the consent box to take part.", 400)
            held = _cookie_assignment(request, study)
            started = start_assignment(study, who, proof=held.token if held is not None else "")
            # 303: the browser follows with a GET, so a reload of the task page never posts the consent again.
            return _to_assignment(request, study, started, 303)
    except Refused as refused:
        return render(
            request, "annotation/message.html", {"study": study, "message": str(refused)}, status=refused.status
        )
    context = {
        "study": study,
        "preview": who is None,
        "open": study.is_open,
        "fields": _platform_fields(values),
        "timed": get_protocol(study.protocol).timed,
    }
    return render(request, "annotation/entry.html", context)


def _invitee_id(request: HttpRequest) -> str:
    """An invitation link's visitor, remembered by their session so that following the link again resumes."""
    if request.method == "POST" and INVITEE_SESSION_KEY not in request.session:
        request.session[INVITEE_SESSION_KEY] = secret_token()
    return request.session.get(INVITEE_SESSION_KEY, "")


def _assignment(token: str) -> Assignment:
    return get_object_or_404(Assignment.objects.select_related("study", "annotator"), token=token)


@annotator_page
@require_GET
def task(request: HttpRequest, token: str) -> HttpResponse:
    assignment = _assignment(token)
    urls = {name: reverse(f"annotation:{name}", args=[token]) for name in ("state", "answer", "finish", "withdraw")}
    platform = completion(assignment).kind  # how the assignment ends: MTurk's, Prolific's, or a code
    return task_page(request, assignment.study, urls, feedback=assignment.annotator.feedback, platform=platform)


def task_page(
    request: HttpRequest,
    study: Study,
    urls: dict[str, str],
    *,
    feedback: bool,
    platform: str,
    preview: bool = False,
    csrf_token: str = "",
) -> HttpResponse:
    """The task page, its API at ``urls`` (state, answer, finish, withdraw): an annotator's, or a staff preview's
    (whose API, behind the staff's session cookie, wants the CSRF token)."""
    config = {
        **{f"{name}Url": url for name, url in urls.items()},
        "timed": get_protocol(study.protocol).timed,
        "feedback": feedback,
        "countdownMs": COUNTDOWN_MS,
        "masks": MASKS,
        "maskMs": MASK_MS,
        "feedbackMs": study.feedback_ms,
        "platform": platform,
        "preview": preview,
        "csrfToken": csrf_token,
        # The page sends only what the server takes: an odd browser must never lose an answer to a refusal.
        "displayLimits": {
            "viewport": VIEWPORT_MAX,
            "pixelRatio": [PIXEL_RATIO_MIN, PIXEL_RATIO_MAX],
            "refresh": [REFRESH_MIN_MS, REFRESH_MAX_MS],
            "frames": FRAMES_MAX,
            "clock": CLOCK_MAX_MS,
        },
    }
    return render(request, "annotation/task.html", {"study": study, "config": config, "staff_preview": preview})


def state(progress: answers.AssignmentState) -> dict[str, Any]:
    """What the task page needs now: the stage, progress, and the current image by its token, with its bytes in
    base64 (no more). ``image`` is null when the bytes cannot be read here: the page then asks ``src``, which
    answers why."""
    item = progress.item
    return {
        "stage": progress.stage,
        "phase": progress.phase,
        "done": progress.done,
        "total": progress.total,
        "answered": progress.answered,
        "blocks": progress.blocks,
        "item": None
        if item is None
        else {
            "token": item.token,
            "src": reverse("annotation:image", args=[item.token]),
            "block": item.block,
            "exposure_ms": item.exposure_ms,
            "image": _image_base64(item.file),
        },
    }


def _image_base64(file: Path | None) -> str | None:
    if file is None:
        return None
    try:
        return base64.b64encode(images.image_bytes(file)).decode("ascii")
    except (images.ImageError, OSError):
        return None


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def json_api(method: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """The task page's API: one method, and its refusals in JSON too (a wrong method, an unknown token)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != method:
                response = _json({"error": f"This address takes {method} only."}, 405)
                response["Allow"] = method
                return response
            try:
                return view(request, *args, **kwargs)
            except Http404:
                return _json({"error": "This link is not valid: open the study from the link you were given."}, 404)

        return wrapped

    return decorate


@annotator_page
@json_api("GET")
def api_state(request: HttpRequest, token: str) -> JsonResponse:
    try:
        return _json(state(answers.current_state(token)))
    except Assignment.DoesNotExist:
        raise Http404("no such assignment") from None


@annotator_page
@guarded_post
@json_api("POST")
def api_answer(request: HttpRequest, token: str) -> JsonResponse:
    """Store the answer; the response holds the next state (its item served, with its image's bytes), so neither
    a state request nor an image request follows."""
    try:
        item, answer, response_ms, display = _answer_body(request)
    except _Malformed as malformed:
        # An unknown assignment is refused as such (404) whatever the body: the body's fault comes second.
        if not Assignment.objects.filter(token=token).exists():
            raise Http404("no such assignment") from None
        return _json({"error": str(malformed)}, malformed.status)
    try:
        outcome, progress = answers.answer(
            token, item, answer_real=answer == "real", response_ms=response_ms, display=display
        )
    except Assignment.DoesNotExist:
        raise Http404("no such assignment") from None
    except Refused as refused:
        response = _json({"error": str(refused)}, refused.status)
        if refused.status == 429:
            response["Retry-After"] = "1"
        return response
    feedback = None
    if outcome.feedback:
        feedback = {"correct": outcome.correct, "truth": "real" if outcome.truth_real else "generated"}
    return _json({"stored": True, "feedback": feedback, "state": state(progress)})


class _Malformed(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _answer_body(request: HttpRequest) -> tuple[str, str, int, answers.Display]:
    """The answer's item token, answer, response time and display, or ``_Malformed`` with the refusal."""
    if request.content_type != "application/json":
        raise _Malformed("Send the answer as application/json.", 415)
    try:
        body = json.loads(request.body)
        answer, response_ms, item = body["answer"], body["response_ms"], body["item"]
        # type(), not isinstance: JSON's true and false are ints to Python.
        if answer not in ("real", "generated") or type(response_ms) is not int or not isinstance(item, str):
            raise ValueError
        if not ITEM_TOKEN.fullmatch(item):
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError, RequestDataTooBig):
        raise _Malformed('expected {"item": token, "answer": "real" or "generated", "response_ms": int}', 400) from None
    return item, answer, response_ms, _display(body)


def _display(body: dict[str, Any]) -> answers.Display:
    """How the image was seen, each field optional (a client may not know it) but refused, by name, when wrong."""

    def number(name: str, kind: type, low: float, high: float) -> Any:
        value = body.get(name)
        if value is None:
            return None
        # type(): JSON's true and false are ints to Python; an int is a fine float (a ratio of 2).
        if type(value) not in ((int,) if kind is int else (int, float)) or not low <= value <= high:
            what = "an integer" if kind is int else "a number"
            raise _Malformed(f"{name}: expected {what} from {low} to {high}", 400)
        return kind(value)

    def interval(start: str, end: str) -> tuple[float | None, float | None]:
        """Two timestamps of one thing on screen: both or neither, the end not before the start."""
        onset, offset = number(start, float, 0, CLOCK_MAX_MS), number(end, float, 0, CLOCK_MAX_MS)
        if (onset is None) != (offset is None):
            raise _Malformed(
                f"{end if offset is None else start}: expected with {start if offset is None else end}", 400
            )
        if onset is not None and offset < onset:
            raise _Malformed(f"{end}: expected at or after {start}", 400)
        return onset, offset

    input_kind = body.get("input_kind", "")
    if input_kind not in ("", *InputKind.values):
        raise _Malformed(f"input_kind: expected one of {', '.join(InputKind.values)}", 400)
    dropped = body.get("dropped_frames")
    if dropped is not None and type(dropped) is not bool:
        raise _Malformed("dropped_frames: expected true or false", 400)
    stimulus_onset, stimulus_offset = interval("stimulus_onset_ms", "stimulus_offset_ms")
    mask_onset, mask_offset = interval("mask_onset_ms", "mask_offset_ms")
    return answers.Display(
        viewport_width=number("viewport_width", int, 1, VIEWPORT_MAX),
        viewport_height=number("viewport_height", int, 1, VIEWPORT_MAX),
        # NaN and infinities (Python's JSON reads them) fail the range, and a ratio of 0 is no screen.
        device_pixel_ratio=number("device_pixel_ratio", float, PIXEL_RATIO_MIN, PIXEL_RATIO_MAX),
        input_kind=input_kind,
        refresh_ms=number("refresh_ms", float, REFRESH_MIN_MS, REFRESH_MAX_MS),
        frames_requested=number("frames_requested", int, 1, FRAMES_MAX),
        frames_shown=number("frames_shown", int, 0, FRAMES_MAX),
        stimulus_onset_ms=stimulus_onset,
        stimulus_offset_ms=stimulus_offset,
        mask_onset_ms=mask_onset,
        mask_offset_ms=mask_offset,
        dropped_frames=dropped,
    )


@annotator_page
@guarded_post
@json_api("POST")
def api_finish(request: HttpRequest, token: str) -> JsonResponse:
    try:
        done = finish_assignment(_assignment(token))
    except Refused as refused:
        return _json({"error": str(refused)}, refused.status)
    return _json(
        {
            "kind": done.kind,
            "code": done.code,
            "url": done.url,
            "fields": done.fields,
            "disqualified": done.disqualified,
        }
    )


@annotator_page
@guarded_post
@json_api("POST")
def api_withdraw(request: HttpRequest, token: str) -> JsonResponse:
    """The annotator stops here: the assignment ends, and the page says what happens next on their platform."""
    try:
        done = withdraw_assignment(_assignment(token))
    except Refused as refused:
        return _json({"error": str(refused)}, refused.status)
    return _json({"kind": done.kind, "withdrawn": True})


@require_GET
def image(request: HttpRequest, token: str) -> HttpResponse:
    """An image by its opaque per-assignment token, with the same headers whatever the pool."""
    found = answers.image_file(token)
    if found is None:
        raise Http404("image not found")
    try:
        return images.image_response(found)
    except (images.ImageError, OSError):
        raise Http404("image not found") from None
