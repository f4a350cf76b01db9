"""Admin: researchers create runs from the engine's config form and act on them. Actions are thin: the
selected rows go to one service call each, and the counts (and each refusal's reason) are reported."""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from gan_engine.errors import ConfigError
from runs import actions, planning
from runs.admin_actions import each
from runs.forms import (
    DomainClassifierForm,
    RealPoolForm,
    RunConfigForm,
    RunNotesForm,
    SamplePoolForm,
    ScorePoolForm,
    config_sections,
)
from runs.models import (
    ACTIVE_STATUSES,
    LEASED_STATUSES,
    Ablation,
    Checkpoint,
    DomainClassifier,
    ImagePool,
    JobStatus,
    PoolScore,
    RunStatus,
    TrainingRun,
)
from runs.numbers import count, duration, percent, setting

REFUSALS = (actions.RunError, ConfigError)
# Posted by the buttons of a run's change page, which run the list's actions on that one run: go back there.
RETURN_FIELD = "_return"
LAUNCH_BUTTON = "_launch"


_each = functools.partial(each, refusals=REFUSALS)


def _queued(run: TrainingRun) -> str:
    """What launching queued, in the researcher's terms: where the run stands in the queue and how long it trains."""
    position = planning.queue_position(run)
    ahead = "first in the queue" if position == 1 else f"{position - 1} queued runs ahead of it"
    speed = planning.measured_speed(run)
    cost = (
        f"about {duration(run.total_steps * speed.seconds_per_step)} of training ({speed.source})"
        if speed
        else "no speed measured yet for this recipe, dataset and architecture"
    )
    return f"Queued {run} for a GPU worker: {run.total_steps:,} steps, {ahead}; {cost}."


def options_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    action: str,
    title: str,
    form: forms.Form | None = None,
    template: str = "admin/runs/action_options.html",
    **extra: Any,
) -> TemplateResponse:
    """The intermediate page of an action that needs options (a pool's size, a scorer) or a confirmation."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "form": form,
        "action": action,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "return_to": request.POST.get(RETURN_FIELD, ""),
        **extra,
    }
    return TemplateResponse(request, template, context)


def _score(
    modeladmin: admin.ModelAdmin, request: HttpRequest, selected: QuerySet, pools: QuerySet, action: str
) -> HttpResponse | None:
    """Score pools (those of the selected rows): the scorers that can run now are offered, the pools'
    dataset's own first, and the others listed with their fix."""
    pools = list(pools)
    if not pools:
        modeladmin.message_user(request, "No written pool to score: sample a pool first.", messages.ERROR)
        return None
    datasets = {pool.dataset for pool in pools}
    dataset = datasets.pop() if len(datasets) == 1 else None
    form = ScorePoolForm(request.POST if "apply" in request.POST else None, dataset=dataset)
    if not form.is_valid():
        return options_page(modeladmin, request, selected, action, f"Score {len(pools)} pool(s)", form, pools=pools)
    options = form.cleaned_data
    _each(
        modeladmin,
        request,
        pools,
        "Scoring queued",
        lambda pool: actions.score_pool(pool, **options, user=request.user),
        lambda score: f"{score} queued on the cpu queue.",
    )
    return None


def score_html(score: PoolScore) -> str:
    """A score's summary; a failure's reason, and its fix when the network could not be loaded."""
    if score.status != JobStatus.FAILED:
        return format_html("{}: {}", score.scorer, score.summary)
    fix = planning.scorer_fix(score.scorer, score.error)
    text = format_html('{}: <span class="errornote">failed: {}</span>', score.scorer, score.error)
    if fix is None:
        return text
    if fix.web_fix:
        return format_html(
            '{}<br>Fix: <a href="{}">train {} from here</a>, or on a worker <code>{}</code>',
            text,
            fix.web_fix,
            fix.name,
            fix.cli_fix,
        )
    return format_html("{}<br>Fix, on each worker: <code>{}</code>", text, fix.cli_fix)


def _created_by_service(obj: Any, created: Any) -> None:
    # The admin goes on to log the addition and redirect with the instance it built: give it the row's id.
    obj.pk = created.pk
    obj._state.adding = False


class CheckpointInline(admin.TabularInline):
    model = Checkpoint
    fields = ("step", "path", "pruned", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "progress", "recipe", "dataset", "attempt", "worker_host", "created_at")
    list_display_links = ("id", "name")
    list_filter = ("status", "recipe", "dataset")
    search_fields = ("name", "notes")
    actions = ("launch", "cancel", "resume", "duplicate", "ablation", "sample_pool", "score")
    change_form_template = "admin/runs/trainingrun/change_form.html"
    inlines = (CheckpointInline,)
    run_fields = (
        "dashboard",
        "status",
        "progress",
        "attempt",
        "worker_host",
        "device",
        "heartbeat_at",
        "error",
        "config_table",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def _editable(self, obj: TrainingRun | None) -> bool:
        return obj is None or obj.status == RunStatus.DRAFT

    def get_form(self, request: HttpRequest, obj: TrainingRun | None = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = RunConfigForm if self._editable(obj) else RunNotesForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: TrainingRun | None = None):
        if not self._editable(obj):
            return [(None, {"fields": ("name", "notes")}), ("Run", {"fields": self.run_fields})]
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [(None, {"fields": ("name", "notes", "recipe")})]
        for section, names in config_sections().items():
            # What a researcher changes most is open; the rest folds away.
            classes = () if section in ("data", "techniques", "optim") else ("collapse",)
            fieldsets.append((section, {"fields": names, "classes": classes}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: TrainingRun | None = None):
        return () if self._editable(obj) else self.run_fields

    def get_inlines(self, request: HttpRequest, obj: TrainingRun | None):
        return () if self._editable(obj) else self.inlines

    def has_delete_permission(self, request: HttpRequest, obj: TrainingRun | None = None) -> bool:
        # A worker may be training it: deleting the row would leave that worker writing for nobody.
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_active)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        active = [str(run) for run in queryset if run.is_active]
        if active:
            self.message_user(
                request, f"Not deleted, queued or training (cancel first): {', '.join(active)}", messages.ERROR
            )
        super().delete_queryset(request, queryset.exclude(status__in=ACTIVE_STATUSES))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, obj: Any = None, **kwargs: Any
    ):
        # Launched runs are not a form to fill in again and again: one run, then its dashboard.
        draft = self._editable(obj)
        context.update(show_save_and_add_another=draft, can_launch=draft, object_actions=self.object_actions(obj))
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def object_actions(self, run: TrainingRun | None) -> list[tuple[str, str]]:
        """The list's actions that apply to this run now, as buttons of its change page: (action, label)."""
        if run is None:
            return []
        now = timezone.now()
        checkpoint = run.checkpoints.filter(pruned=False).exists()
        offered = [
            ("cancel", "Cancel", run.status in (RunStatus.QUEUED, RunStatus.RUNNING)),
            (
                "resume",
                "Resume",
                run.status in (RunStatus.FAILED, RunStatus.CANCELLED)
                or (run.status in LEASED_STATUSES and run.lease_expired(now)),
            ),
            ("sample_pool", "Sample a pool", checkpoint),
            ("score", "Score its newest pool", run.pools.filter(status=JobStatus.DONE).exists()),
            ("ablation", "Ablation grid…", True),
            ("duplicate", "Duplicate as a draft", True),
        ]
        return [(action, label) for action, label, shown in offered if shown]

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        response = super().response_action(request, queryset)
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if (
            request.POST.get(RETURN_FIELD) == "change"
            and len(selected) == 1
            and isinstance(response, HttpResponseRedirect)
            and response.url == request.get_full_path()  # the list's own redirect, not an action's
        ):
            return HttpResponseRedirect(reverse("admin:runs_trainingrun_change", args=[selected[0]]))
        return response

    def response_add(self, request: HttpRequest, obj: TrainingRun, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._to_dashboard_if_launched(request, obj, super().response_add(request, obj, *args, **kwargs))

    def response_change(self, request: HttpRequest, obj: TrainingRun) -> HttpResponse:
        return self._to_dashboard_if_launched(request, obj, super().response_change(request, obj))

    def _to_dashboard_if_launched(self, request: HttpRequest, obj: TrainingRun, response: HttpResponse) -> HttpResponse:
        if LAUNCH_BUTTON in request.POST and obj.status != RunStatus.DRAFT:
            return HttpResponseRedirect(obj.get_absolute_url())
        return response

    def save_model(self, request: HttpRequest, obj: TrainingRun, form: Any, change: bool) -> None:
        # Saving stores a draft; only the "Save and launch" button queues it.
        config = getattr(form, "config", None)
        launch = LAUNCH_BUTTON in request.POST and config is not None
        if change:
            actions.edit_run(obj, name=obj.name, notes=obj.notes, config=config)
            if launch:
                actions.launch_run(obj, user=request.user)
        else:
            _created_by_service(
                obj, actions.create_run(config, name=obj.name, notes=obj.notes, user=request.user, launch=launch)
            )
        if launch:
            obj.refresh_from_db()
            self.message_user(request, _queued(obj), messages.SUCCESS)
        elif config is not None:
            self.message_user(
                request, f'{obj} is saved as a draft: nothing is queued. "Save and launch" queues it.', messages.INFO
            )

    @admin.display(description="progress")
    def progress(self, run: TrainingRun) -> str:
        return format_html(
            '<progress max="{}" value="{}"></progress> {}/{}',
            run.total_steps,
            run.step,
            count(run.step),
            count(run.total_steps),
        )

    @admin.display(description="dashboard")
    def dashboard(self, run: TrainingRun) -> str:
        return format_html('<a href="{}">live view of run #{}</a>', run.get_absolute_url(), run.pk)

    @admin.display(description="config")
    def config_table(self, run: TrainingRun) -> str:
        rows = [
            (f"{section}.{name}", value)
            for section, values in run.config.items()
            if isinstance(values, dict)
            for name, value in values.items()
        ]
        return format_html(
            "<table><tr><th>recipe</th><td>{}</td></tr>{}</table>",
            run.config.get("recipe"),
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((name, setting(value)) for name, value in rows)),
        )

    @admin.action(description="Launch the selected drafts")
    def launch(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Launched", lambda run: actions.launch_run(run, user=request.user), _queued)

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Cancelled or told to stop", lambda r: actions.cancel_run(r, user=request.user))

    @admin.action(description="Resume the selected runs from their newest checkpoint")
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Queued to resume", lambda run: actions.resume_run(run, user=request.user))

    @admin.action(description="Duplicate the selected runs as drafts")
    def duplicate(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        copies = _each(
            self,
            request,
            queryset,
            "Duplicated",
            lambda run: actions.duplicate_run(run, user=request.user),
            lambda copy: f"Draft {copy} created: edit it, then launch it.",
        )
        if request.POST.get(RETURN_FIELD) == "change" and len(copies) == 1:
            # From a run's page: on to the copy's, where it is edited.
            return HttpResponseRedirect(reverse("admin:runs_trainingrun_change", args=[copies[0].pk]))
        return None

    @admin.action(description="Launch the paper's ablation grid from each selected run…")
    def ablation(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Six runs at once: first a page of what each variant changes, what it costs, and which are dropped."""
        if "apply" not in request.POST:
            plans = []
            for run in queryset:
                try:
                    plans.append(planning.plan_ablation(run))
                except ConfigError as exc:
                    self.message_user(request, f"{run}: {exc}", messages.ERROR)
            return options_page(
                self,
                request,
                queryset,
                "ablation",
                "Launch the ablation grid?",
                template="admin/runs/ablation_confirmation.html",
                plans=plans,
            )
        _each(
            self,
            request,
            queryset,
            "Ablations launched",
            lambda run: actions.launch_ablation(run, user=request.user),
            lambda ablation: format_html(
                '{}: {} runs queued; <a href="{}">side by side</a>.',
                ablation,
                ablation.runs.count(),
                ablation.get_absolute_url(),
            ),
        )
        return None

    @admin.action(description="Sample a pool of N images from each run's newest checkpoint")
    def sample_pool(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = SamplePoolForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return options_page(self, request, queryset, "sample_pool", "Sample a pool of images", form)
        options = form.cleaned_data
        _each(
            self,
            request,
            queryset,
            "Pools queued",
            lambda run: actions.sample_pool(run, **options, user=request.user),
            lambda pool: f"{pool} queued on the cpu queue.",
        )
        return None

    @admin.action(description="Score the newest written pool of each selected run")
    def score(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        pools = ImagePool.objects.filter(
            pk__in=[
                p
                for run in queryset
                if (p := run.pools.filter(status=JobStatus.DONE).values_list("pk", flat=True).first())
            ]
        )
        return _score(self, request, queryset, pools, "score")


@admin.register(ImagePool)
class ImagePoolAdmin(admin.ModelAdmin):
    """Generated pools come from the runs' "sample" action; adding one here draws real images."""

    list_display = ("id", "kind", "run", "step", "dataset", "size", "seed", "status", "score_summary", "created_at")
    list_filter = ("kind", "status", "dataset")
    actions = ("score", "train_classifier")
    pool_fields = ("kind", "run", "checkpoint", "step", "dataset", "size", "seed", "split", "image_size")
    result_fields = ("status", "path", "error", "score_summary", "created_at", "finished_at")

    def get_form(self, request: HttpRequest, obj: ImagePool | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = RealPoolForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ImagePool | None = None):
        return RealPoolForm._meta.fields if obj is None else self.pool_fields + self.result_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ImagePool | None = None):
        return () if obj is None else self.pool_fields + self.result_fields

    def save_model(self, request: HttpRequest, obj: ImagePool, form: Any, change: bool) -> None:
        if change:
            return
        options = {key: form.cleaned_data[key] for key in ("size", "seed", "split", "image_size")}
        _created_by_service(obj, actions.draw_real_pool(form.cleaned_data["dataset"], **options, user=request.user))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("run").prefetch_related("scores")

    @admin.display(description="scores")
    def score_summary(self, pool: ImagePool) -> str:
        return format_html_join(mark_safe("<br>"), "{}", ((score_html(s),) for s in pool.scores.all()))

    def has_change_permission(self, request: HttpRequest, obj: ImagePool | None = None) -> bool:
        # A pool is what its job wrote: its page is a record to read, with no Save button.
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(description="Score the selected pools")
    def score(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _score(self, request, queryset, queryset, "score")

    @admin.action(description="Train the domain classifier of each selected pool's dataset (a GPU worker's job)")
    def train_classifier(self, request: HttpRequest, queryset: QuerySet) -> None:
        datasets = sorted({pool.dataset for pool in queryset})
        _each(
            self,
            request,
            datasets,
            "Domain classifiers queued",
            lambda dataset: actions.train_domain_classifier(dataset, user=request.user),
            lambda classifier: f"{classifier.scorer} queued for a GPU worker (domain classifier #{classifier.pk}).",
        )


@admin.register(PoolScore)
class PoolScoreAdmin(admin.ModelAdmin):
    list_display = ("id", "pool", "scorer", "status", "summary", "created_at")
    list_filter = ("scorer", "status")
    readonly_fields = ("pool", "scorer", "fid", "real_split", "real_n", "status", "values", "error", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PoolScore | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


@admin.register(DomainClassifier)
class DomainClassifierAdmin(admin.ModelAdmin):
    """Adding one queues its training on a GPU worker."""

    list_display = ("id", "scorer", "status", "accuracy", "weights_sha256", "created_at")
    list_filter = ("status", "dataset")

    def get_form(self, request: HttpRequest, obj: DomainClassifier | None = None, change: bool = False, **kwargs: Any):
        # The add form's choices and help; a classifier's own page shows its fields as read-only values.
        if obj is None:
            kwargs["form"] = DomainClassifierForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: DomainClassifier | None = None):
        if obj is None:
            return ()
        return ("dataset", "epochs", "min_accuracy", "limit", "status", "accuracy", "weights_sha256", "error")

    def has_change_permission(self, request: HttpRequest, obj: DomainClassifier | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="test accuracy", ordering="test_accuracy")
    def accuracy(self, classifier: DomainClassifier) -> str:
        return percent(classifier.test_accuracy)

    def save_model(self, request: HttpRequest, obj: DomainClassifier, form: Any, change: bool) -> None:
        if change:
            return
        classifier = actions.train_domain_classifier(
            obj.dataset, epochs=obj.epochs, min_accuracy=obj.min_accuracy, limit=obj.limit, user=request.user
        )
        _created_by_service(obj, classifier)


@admin.register(Ablation)
class AblationAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "base_run", "comparison", "created_at")
    readonly_fields = ("name", "base_run", "created_by", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="comparison")
    def comparison(self, ablation: Ablation) -> str:
        return format_html('<a href="{}">side by side</a>', reverse("runs:ablation", args=[ablation.pk]))
