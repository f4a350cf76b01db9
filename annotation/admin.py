"""Admin: researchers create studies, choose their pools and attention checks, open and close them, and export.

Writes go through annotation.actions.studies: the study's form and its pools' inline call them on save, and actions
are thin (the selected rows to one action call each, the counts and each refusal's reason reported).

The training runs' admin gains one action here, the checkpoint sweep (annotation.sweeps): researchers select runs on
their list and sweep them into a study. The runs app knows nothing of studies, so this app registers the runs' admin
again with the action added.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from annotation import readiness
from annotation.access import visible_studies
from annotation.actions.errors import StudyError
from annotation.actions.studies import (
    FROZEN_WHEN_OPENED,
    STUDY_SETTINGS,
    add_attention_items,
    close_study,
    create_study,
    delete_study,
    edit_study,
    open_study,
    remove_attention_item,
    remove_study_pool,
    set_study_pool,
    study_settings_errors,
)
from annotation.export import csv_response, judgment_rows
from annotation.models import Annotator, AttentionItem, Study, StudyItem, StudyPool
from annotation.progress import study_progress
from annotation.protocols import get_protocol
from annotation.results import study_results, summary_rows
from annotation.sweeps import create_sweep
from annotation.tasks import pilot_simulated_observers
from runs import planning
from runs.admin import REFUSALS, TrainingRunAdmin, options_page
from runs.admin_actions import each
from runs.models import ImagePool, JobStatus, TrainingRun

# Blank on a new study: the protocol's standard value.
PROTOCOL_DEFAULTED = ("feedback", "items_per_assignment", "real_fraction", "block_size")
BLANK = (None, "")
# An action refused on a row reports why, and the other rows go on.
_each = functools.partial(each, refusals=(StudyError,))


class PilotForm(forms.Form):
    observers = forms.IntegerField(min_value=1, max_value=500, initial=10, help_text="simulated observers")
    d_prime = forms.FloatField(initial=1.0, help_text="their sensitivity d′ to every generated pool")
    lapse = forms.FloatField(min_value=0, max_value=1, initial=0.0, help_text="share of answers by coin flip")
    seed = forms.IntegerField(min_value=0, initial=0)


class SweepForm(forms.Form):
    """A checkpoint sweep's options; the scorers offered are those that can run now (``unavailable``: the others)."""

    checkpoints = forms.IntegerField(
        min_value=1, max_value=50, initial=4, help_text="per run, evenly spaced from the first kept to the last"
    )
    steps = forms.CharField(
        required=False, help_text="or these checkpoint steps, comma-separated (e.g. 150, 300, 450, 600)"
    )
    pool_size = forms.IntegerField(min_value=8, max_value=100_000, initial=100, help_text="images per pool")
    scorer = forms.ChoiceField(choices=(), help_text="IS and FID from this network; the C2ST runs with it")
    top_percent = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=100,
        label="top k%",
        help_text="show annotators only each pool's top k% by Inception Score (blank: all images)",
    )
    open_study = forms.BooleanField(required=False, label="open the study", help_text="once every pool is scored")

    def __init__(self, *args: Any, dataset: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        options = planning.sweep_scorers(dataset) if dataset else planning.scorer_options()
        self.fields["scorer"].choices = [(o.name, f"{o.name}: {o.description}") for o in options if o.ready]
        self.unavailable = [o for o in options if not o.ready]

    def clean_steps(self) -> list[int] | None:
        text = self.cleaned_data["steps"].replace(",", " ").split()
        try:
            steps = sorted({int(step) for step in text})
        except ValueError:
            raise forms.ValidationError("whole numbers, comma-separated") from None
        return steps or None


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = STUDY_SETTINGS
        widgets: ClassVar[dict[str, forms.Widget]] = {
            "instructions": forms.Textarea(attrs={"rows": 6}),
            "consent_text": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            for name in PROTOCOL_DEFAULTED:
                self.fields[name].required = False
                self.fields[name].initial = None
                self.fields[name].help_text = "blank: the protocol's standard"
            self.fields["feedback"].choices = [("", "the protocol's standard"), *Study.Feedback.choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        values = {name: getattr(self.instance, name) for name in STUDY_SETTINGS}
        values.update({name: value for name, value in data.items() if name in STUDY_SETTINGS})
        if self.instance.pk is None:
            standard = get_protocol(data.get("protocol", Study.Protocol.SALIMANS)).defaults()
            for name in PROTOCOL_DEFAULTED:
                if data.get(name) in BLANK:
                    values[name] = standard.get(name, Study._meta.get_field(name).get_default())
        for name, message in study_settings_errors(values).items():
            self.add_error(name if name in self.fields else None, message)
        return data


class StudyPoolInline(admin.TabularInline):
    model = StudyPool
    fields = ("pool", "label", "top_percent", "weight", "max_items")
    extra = 2

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "pool":
            kwargs["queryset"] = ImagePool.objects.filter(status=JobStatus.DONE).select_related("run")
            formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
            # A researcher picks by dataset, run, checkpoint and image size: "pool #7" alone says none of them.
            formfield.label_from_instance = readiness.pool_label
            return formfield
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _draft(self, obj: Study | None) -> bool:
        return obj is None or obj.status == Study.Status.DRAFT

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None) -> tuple[str, ...]:
        return () if self._draft(obj) else self.fields

    def has_add_permission(self, request: HttpRequest, obj: Study | None = None) -> bool:
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Study | None = None) -> bool:
        return self._draft(obj) and super().has_delete_permission(request, obj)


class AttentionForm(forms.Form):
    pool = forms.ModelChoiceField(queryset=ImagePool.objects.filter(status=JobStatus.DONE))
    files = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="image names of the pool, one a line (from its pool.json)",
    )
    count = forms.IntegerField(
        min_value=1, required=False, help_text="or: this many images of the pool at random (an obvious pool)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["names"] = [line.strip() for line in data.get("files", "").splitlines() if line.strip()]
        if bool(data["names"]) == bool(data.get("count")):
            raise forms.ValidationError("name the images, or give a count to draw at random: one of the two")
        return data


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyForm
    list_display = (
        "id",
        "name",
        "status",
        "protocol",
        "feedback",
        "annotator_count",
        "progress",
        "results_link",
        "created_at",
    )
    list_display_links = ("id", "name")
    list_filter = ("status", "protocol")
    search_fields = ("name", "title")
    inlines = (StudyPoolInline,)
    actions = ("open_studies", "close_studies", "export_judgments", "export_summary", "delete_drafts", "pilot")
    state_fields = ("status", "links", "opening_checks", "opened_at", "closed_at", "created_by", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Exports act on this queryset too: only the studies this user may see (annotation.access).
        visible = visible_studies(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible).annotate(annotators_n=Count("annotators"))

    def get_fieldsets(self, request: HttpRequest, obj: Study | None = None) -> list[tuple[str | None, dict[str, Any]]]:
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": ["name", "title", "protocol", "instructions", "consent_text", "completion_code"]}),
            (
                "Design",
                {
                    "fields": [
                        "feedback",
                        "feedback_ms",
                        "real_fraction",
                        "items_per_assignment",
                        "block_size",
                        "judgments_per_item",
                        "attention_per_assignment",
                        "max_assignments_per_annotator",
                    ]
                },
            ),
            ("Qualification", {"fields": ["require_qualification", "qualification_items", "qualification_threshold"]}),
            ("Pools", {"fields": ["mixed_datasets_reason"]}),
            ("Access", {"fields": ["shared_with"]}),
        ]
        if obj is not None:
            fieldsets.insert(0, ("State", {"fields": self.state_fields}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return self.state_fields + (FROZEN_WHEN_OPENED if obj.status != Study.Status.DRAFT else ())

    def save_model(self, request: HttpRequest, obj: Study, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in STUDY_SETTINGS if name in form.cleaned_data}
        if change:
            edit_study(obj, **{name: values[name] for name in form.changed_data if name in values})
            return
        for name in PROTOCOL_DEFAULTED:
            if values.get(name) in BLANK:
                values.pop(name, None)
        study = create_study(user=request.user, **values)
        # The admin goes on to save the inlines, the groups it is shared with, and log the addition with the
        # instance it built.
        obj.pk = study.pk
        obj._state.adding, obj._state.db = False, study._state.db

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        study = form.instance
        deleted = set(formset.deleted_forms)
        # What formset.save() would record, for the admin's history of the change.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if inline_form in deleted:
                if inline_form.instance.pk:
                    remove_study_pool(inline_form.instance)
                    formset.deleted_objects.append(inline_form.instance)
                continue
            data = inline_form.cleaned_data
            if not inline_form.has_changed() or data.get("pool") is None:
                continue
            study_pool = set_study_pool(
                study,
                data["pool"],
                label=data.get("label", ""),
                top_percent=data.get("top_percent"),
                weight=data.get("weight") or 1.0,
                max_items=data.get("max_items"),
            )
            if inline_form.instance.pk:
                formset.changed_objects.append((study_pool, inline_form.changed_data))
            else:
                formset.new_objects.append(study_pool)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.attention_view)
        return [path("<int:pk>/attention/", view, name="annotation_study_attention"), *super().get_urls()]

    def attention_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Add attention checks to a study: named images of a pool, or a count of them at random."""
        study = get_object_or_404(visible_studies(request.user), pk=pk)
        if not self.has_change_permission(request, study):
            return HttpResponseRedirect(reverse("admin:index"))
        form = AttentionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                added = add_attention_items(
                    study, form.cleaned_data["pool"], form.cleaned_data["names"], count=form.cleaned_data.get("count")
                )
            except StudyError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Added {added} attention checks to {study}.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:annotation_attentionitem_changelist") + f"?study__id__exact={pk}"
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Attention checks for {study}",
            "study": study,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/annotation/attention_form.html", context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a study is a record of an experiment: the "delete drafts" action removes unopened ones

    @admin.display(description="annotators", ordering="annotators_n")
    def annotator_count(self, study: Study) -> int:
        return study.annotators_n

    @admin.display(description="judgments (of wanted) · active/finished per arm")
    def progress(self, study: Study) -> str:
        done = study_progress(study)
        arms = " · ".join(f"{arm.condition} {arm.active}/{arm.finished}" for arm in done.arms)
        return f"{done} · {arms}"

    @admin.display(description="results")
    def results_link(self, study: Study) -> str:
        return format_html('<a href="{}">results</a>', study.get_absolute_url())

    @admin.display(description="links")
    def links(self, study: Study) -> str:
        return format_html(
            '<a href="{}">results</a> · annotator link <code>{}</code> · <a href="{}">add attention checks</a>'
            ' · <a href="{}" id="preview-link">preview as annotator</a> (nothing stored)'
            ' · <a href="{}" id="plan-link">plan this study</a>',
            study.get_absolute_url(),
            study.entry_path,
            reverse("admin:annotation_study_attention", args=[study.pk]),
            reverse("annotation:preview", args=[study.pk]),
            reverse("annotation:plan", args=[study.pk]),
        )

    @admin.display(description="before opening")
    def opening_checks(self, study: Study) -> str:
        if study.status != Study.Status.DRAFT:
            return "opened"
        found = readiness.problems(study)
        if not found:
            return "ready to open"
        return format_html_join("", '<p class="errornote">{}</p>', ((str(problem),) for problem in found))

    @admin.action(description="Open the selected studies")
    def open_studies(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Opened", lambda study: open_study(study, user=request.user))

    @admin.action(description="Close the selected studies")
    def close_studies(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Closed", lambda study: close_study(study, user=request.user))

    @admin.action(description="Delete the selected drafts")
    def delete_drafts(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Deleted", delete_study)

    @admin.action(description="Pilot with N simulated observers")
    def pilot(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """A confirmation page (how many observers, their d′), then the pilot queued on the cpu queue."""
        if queryset.count() != 1 or not queryset.get().is_open:
            self.message_user(request, "Select one open study: the pilot enters it by its link.", messages.WARNING)
            return None
        study = queryset.get()
        form = PilotForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            base_url = settings.ANNOTATION_SIMULATION_BASE_URL or request.build_absolute_uri("/")
            params = {"default_d_prime": form.cleaned_data["d_prime"], "lapse": form.cleaned_data["lapse"]}
            pilot_simulated_observers.delay(
                study.pk, form.cleaned_data["observers"], form.cleaned_data["seed"], base_url, params
            )
            self.message_user(
                request,
                f"Queued a pilot of {form.cleaned_data['observers']} simulated observers on {study}: their judgments "
                "are marked simulated and left out of the results unless the page asks for them.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Pilot {study} with simulated observers",
            "study": study,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/annotation/pilot_confirm.html", context)

    @admin.action(description="Export the judgments of the selected studies (CSV)")
    def export_judgments(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        ids = sorted(queryset.values_list("pk", flat=True))
        return csv_response(judgment_rows(ids), f"studies-{'-'.join(map(str, ids))}-judgments.csv")

    @admin.action(description="Export the summary tables of one study (CSV)")
    def export_summary(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select one study: each has its own summary tables.", messages.WARNING)
            return None
        study = queryset.get()
        return csv_response(summary_rows(study_results(study)), f"study-{study.pk}-summary.csv")


@admin.register(AttentionItem)
class AttentionItemAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail", "study", "pool", "file", "truth")
    list_filter = ("study",)
    actions = ("remove",)
    fields = ("study", "pool", "file", "truth_real")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = visible_studies(request.user).values("pk")
        return super().get_queryset(request).filter(study__in=visible).select_related("study", "pool")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # from a study's page: "add attention checks"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the "remove" action, which keeps those already shown

    @admin.display(description="image")
    def thumbnail(self, item: StudyItem) -> str:
        return format_html(
            '<img src="{}" alt="" width="48" height="48" style="image-rendering: pixelated">',
            reverse("annotation:item_image", args=[item.pk]),
        )

    @admin.display(description="truth")
    def truth(self, item: StudyItem) -> str:
        return "real" if item.truth_real else "generated"

    @admin.action(description="Remove the selected attention checks (those not shown yet)")
    def remove(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(self, request, queryset, "Removed", remove_attention_item)


@admin.register(Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    """Who took part, by pseudonym; the platform's id is here for payments and blocks only."""

    list_display = ("pseudonym", "study", "platform", "arm", "qualification", "judgments", "attention_missed")
    list_filter = ("study", "platform", "feedback", "qualification")
    search_fields = ("pseudonym", "external_id")
    fields = ("pseudonym", "study", "platform", "external_id", "feedback", "qualification", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        judged = "assignments__sequence__judgment"
        return (
            super()
            .get_queryset(request)
            .filter(study__in=visible_studies(request.user).values("pk"))
            .select_related("study")
            .annotate(
                judgments_n=Count(judged),
                missed_n=Count(
                    judged,
                    filter=Q(
                        assignments__sequence__item__purpose=StudyItem.Purpose.ATTENTION,
                        **{f"{judged}__correct": False},
                    ),
                ),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # their judgments would go with them

    @admin.display(description="arm")
    def arm(self, annotator: Annotator) -> str:
        return annotator.condition

    @admin.display(description="judgments", ordering="judgments_n")
    def judgments(self, annotator: Annotator) -> int:
        return annotator.judgments_n

    @admin.display(description="attention missed", ordering="missed_n")
    def attention_missed(self, annotator: Annotator) -> int:
        return annotator.missed_n


admin.site.unregister(TrainingRun)


@admin.register(TrainingRun)
class SweepingTrainingRunAdmin(TrainingRunAdmin):
    """The runs' admin with the checkpoint sweep among its actions and its run page's buttons."""

    actions = (*TrainingRunAdmin.actions, "sweep")

    def object_actions(self, run: TrainingRun | None) -> list[tuple[str, str]]:
        offered = super().object_actions(run)
        if run is not None and run.checkpoints.filter(pruned=False).exists():
            # After the ablation grid: the other action that makes many things out of a run.
            at = [action for action, _ in offered].index("ablation") + 1
            offered.insert(at, ("sweep", "Sweep its checkpoints into a study…"))
        return offered

    @admin.action(description="Sweep the selected runs' checkpoints into a study (human error against IS)…")
    def sweep(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Options, then the plan and its cost to confirm, then one study for all the selected runs."""
        runs = list(queryset.order_by("pk"))
        datasets = {run.dataset for run in runs}
        bound = "plan" in request.POST or "apply" in request.POST
        form = SweepForm(request.POST if bound else None, dataset=datasets.pop() if len(datasets) == 1 else None)
        template = "admin/annotation/sweep_confirmation.html"
        if not form.is_valid():
            return options_page(self, request, queryset, "sweep", "Sweep checkpoints into a study", form, template)
        options = form.cleaned_data
        plan = planning.plan_sweep(
            runs,
            checkpoints=options["checkpoints"],
            steps=options["steps"],
            pool_size=options["pool_size"],
            scorer=options["scorer"],
            top_percent=options["top_percent"],
        )
        if "apply" not in request.POST or plan.problems:
            title = "Queue this sweep?" if not plan.problems else "This sweep cannot run"
            return options_page(self, request, queryset, "sweep", title, form, template, plan=plan)
        try:
            study = create_sweep(runs, **options, user=request.user)
        except REFUSALS as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        self.message_user(
            request,
            format_html(
                'Sweep queued: {} pools on the cpu queue; <a href="{}">its study #{}</a> {}.',
                len(plan.pools) + 1,
                reverse("admin:annotation_study_change", args=[study.pk]),
                study.pk,
                "opens once every pool is scored" if options["open_study"] else "stays a draft for you to open",
            ),
            messages.SUCCESS,
        )
        return None
