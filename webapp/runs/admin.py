"""Admin: researchers create runs from the engine's config form and act on them. Actions are thin: the
selected rows go to one service call each, and the counts (and each refusal's reason) are reported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from webapp.runs import engine, services
from webapp.runs.forms import (
    DomainClassifierForm,
    RealPoolForm,
    RunConfigForm,
    RunNotesForm,
    SamplePoolForm,
    ScorePoolForm,
    config_sections,
)
from webapp.runs.models import Ablation, Checkpoint, DomainClassifier, ImagePool, PoolScore, RunStatus, TrainingRun

REFUSALS = (services.ServiceError, engine.ConfigError)


def _each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, what: str, call: Callable[[Any], Any]
) -> None:
    """Call the service on each selected row; report how many it took and why it refused the others."""
    done, refused = 0, []
    for obj in queryset:
        try:
            call(obj)
        except REFUSALS as exc:
            refused.append(f"{obj}: {exc}")
        else:
            done += 1
    modeladmin.message_user(
        request, f"{what}: {done} of {done + len(refused)}.", messages.SUCCESS if done else messages.WARNING
    )
    for reason in refused:
        modeladmin.message_user(request, reason, messages.ERROR)


def _options_page(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, action: str, title: str, form: forms.Form
) -> TemplateResponse:
    """The intermediate page of an action that needs options (a pool's size, a scorer)."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "form": form,
        "action": action,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/runs/action_options.html", context)


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
    actions = ("launch", "cancel", "resume", "duplicate", "ablation", "sample_pool")
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
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": ("name", "notes", "recipe", "launch_now")})
        ]
        for section, names in config_sections().items():
            # What a researcher changes most is open; the rest folds away.
            classes = () if section in ("data", "techniques", "optim") else ("collapse",)
            fieldsets.append((section, {"fields": names, "classes": classes}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: TrainingRun | None = None):
        return () if self._editable(obj) else self.run_fields

    def get_inlines(self, request: HttpRequest, obj: TrainingRun | None):
        return () if self._editable(obj) else self.inlines

    def save_model(self, request: HttpRequest, obj: TrainingRun, form: Any, change: bool) -> None:
        config = getattr(form, "config", None)
        if change:
            services.edit_run(obj, name=obj.name, notes=obj.notes, config=config)
            if config is not None and form.cleaned_data.get("launch_now"):
                services.launch_run(obj, user=request.user)
            return
        run = services.create_run(
            config, name=obj.name, notes=obj.notes, user=request.user, launch=form.cleaned_data["launch_now"]
        )
        _created_by_service(obj, run)

    @admin.display(description="progress")
    def progress(self, run: TrainingRun) -> str:
        return format_html(
            '<progress max="{}" value="{}"></progress> {}/{}', run.total_steps, run.step, run.step, run.total_steps
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
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.action(description="Launch the selected drafts")
    def launch(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Launched", lambda run: services.launch_run(run, user=request.user))

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Cancelled or told to stop", lambda r: services.cancel_run(r, user=request.user))

    @admin.action(description="Resume the selected runs from their newest checkpoint")
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Queued to resume", lambda run: services.resume_run(run, user=request.user))

    @admin.action(description="Duplicate the selected runs as drafts")
    def duplicate(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Duplicated", lambda run: services.duplicate_run(run, user=request.user))

    @admin.action(description="Launch the paper's ablation grid from each selected run")
    def ablation(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Ablations launched", lambda r: services.launch_ablation(r, user=request.user))

    @admin.action(description="Sample a pool of N images from each run's newest checkpoint")
    def sample_pool(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = SamplePoolForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return _options_page(self, request, queryset, "sample_pool", "Sample a pool of images", form)
        options = form.cleaned_data
        _each(
            self, request, queryset, "Pools queued", lambda run: services.sample_pool(run, **options, user=request.user)
        )
        return None


@admin.register(ImagePool)
class ImagePoolAdmin(admin.ModelAdmin):
    """Generated pools come from the runs' "sample" action; adding one here draws real images."""

    list_display = ("id", "kind", "run", "step", "dataset", "size", "seed", "status", "score_summary", "created_at")
    list_filter = ("kind", "status", "dataset")
    actions = ("score",)
    pool_fields = ("kind", "run", "checkpoint", "step", "dataset", "size", "seed", "split", "image_size")
    result_fields = ("status", "path", "error", "created_at", "finished_at")

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
        _created_by_service(obj, services.draw_real_pool(form.cleaned_data["dataset"], **options, user=request.user))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("run").prefetch_related("scores")

    @admin.display(description="scores")
    def score_summary(self, pool: ImagePool) -> str:
        return format_html_join(", ", "{}: {}", ((s.scorer, s.summary) for s in pool.scores.all()))

    @admin.action(description="Score the selected pools")
    def score(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = ScorePoolForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return _options_page(self, request, queryset, "score", "Score pools", form)
        options = form.cleaned_data
        _each(
            self,
            request,
            queryset,
            "Scoring queued",
            lambda pool: services.score_pool(pool, **options, user=request.user),
        )
        return None


@admin.register(PoolScore)
class PoolScoreAdmin(admin.ModelAdmin):
    list_display = ("id", "pool", "scorer", "status", "summary", "created_at")
    list_filter = ("scorer", "status")
    readonly_fields = ("pool", "scorer", "fid", "real_split", "real_n", "status", "values", "error", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DomainClassifier)
class DomainClassifierAdmin(admin.ModelAdmin):
    """Adding one queues its training on a GPU worker."""

    form = DomainClassifierForm
    list_display = ("id", "scorer", "status", "test_accuracy", "weights_sha256", "created_at")
    list_filter = ("status", "dataset")

    def get_readonly_fields(self, request: HttpRequest, obj: DomainClassifier | None = None):
        if obj is None:
            return ()
        return ("dataset", "epochs", "min_accuracy", "limit", "status", "test_accuracy", "weights_sha256", "error")

    def save_model(self, request: HttpRequest, obj: DomainClassifier, form: Any, change: bool) -> None:
        if change:
            return
        classifier = services.train_domain_classifier(
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
