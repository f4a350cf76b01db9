"""What an action would do, before it is taken: the ablation grid's variants and what each changes, what
runs cost in time, where a queued run stands, and which scorers can run now. Read-only: the admin's
confirmation and option pages, the dashboard and actions.launch_ablation use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.models import Q
from django.urls import reverse

from gan_engine.config import ablation_grid, config_from_dict
from gan_engine.metrics import scorers, weights
from runs.models import Checkpoint, DomainClassifier, JobStatus, RunStatus, TrainingRun

# Recipes whose evaluation is a classifier's test error (gan_engine/recipes: improved_gan, supervised).
CLASSIFYING_RECIPES = ("improved_gan", "improved_gan_ssl", "supervised")
# The variant that is the base config itself: the reference row of the paper's Table 3.
REFERENCE_VARIANT = "our_methods"
# Images an annotator judges in a sweep's study: the protocol's usual session (Salimans et al. 2016 showed 100).
SWEEP_MAX_ITEMS = 100


def flatten(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config as ``section.name`` → value (the recipe under ``recipe``)."""
    flat = {"recipe": config.get("recipe")}
    for section, values in config.items():
        if isinstance(values, dict):
            flat.update({f"{section}.{name}": value for name, value in values.items()})
    return flat


def config_differences(base: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, base value, other value) for every field where two stored configs differ, in field order."""
    a, b = flatten(base), flatten(other)
    return [(name, a.get(name), b.get(name)) for name in dict.fromkeys([*a, *b]) if a.get(name) != b.get(name)]


def no_test_error_reason(config: dict[str, Any]) -> str:
    """Why a run reports no test error ("" when it does): only a classifier trained on labels has one."""
    if config.get("recipe") not in CLASSIFYING_RECIPES:
        return f"the {config.get('recipe')} recipe trains no classifier: no test error (compare samples, IS, FID)"
    if config.get("data", {}).get("labels") == 0:
        return "no labels: the discriminator learns no classes, so there is no test error (compare samples, IS, FID)"
    return ""


@dataclass(frozen=True)
class Speed:
    """Seconds per training step, and where that number comes from."""

    seconds_per_step: float
    source: str


def measured_speed(run: TrainingRun) -> Speed | None:
    """The run's own reported throughput, else the newest of a run with the same recipe, dataset,
    architecture, width and batch size; None when no such run has reported one."""
    batch = run.config["optim"]["batch_size"]
    if run.images_per_sec:
        return Speed(batch / run.images_per_sec, f"run #{run.pk} itself, {run.images_per_sec:,.0f} images/s")
    model = run.config.get("model", {})
    similar = (
        TrainingRun.objects.filter(recipe=run.recipe, dataset=run.dataset, images_per_sec__isnull=False)
        .filter(
            config__model__architecture=model.get("architecture"),
            config__model__width=model.get("width"),
            config__optim__batch_size=batch,
        )
        .exclude(pk=run.pk)
        .order_by("-updated_at")
        .first()
    )
    if similar is None:
        return None
    return Speed(
        batch / similar.images_per_sec,
        f"run #{similar.pk}, same recipe, dataset, architecture and batch: {similar.images_per_sec:,.0f} images/s",
    )


@dataclass
class Variant:
    name: str
    config: Any  # the engine's TrainConfig
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    no_test_error: str = ""
    seconds: float | None = None

    @property
    def same_as_base(self) -> bool:
        return self.name != REFERENCE_VARIANT and not self.differences

    @property
    def steps(self) -> int:
        return self.config.optim.steps


@dataclass
class AblationPlan:
    run: TrainingRun
    variants: list[Variant]
    speed: Speed | None

    @property
    def to_launch(self) -> list[Variant]:
        return [v for v in self.variants if not v.same_as_base]

    @property
    def dropped(self) -> list[Variant]:
        return [v for v in self.variants if v.same_as_base]

    @property
    def total_seconds(self) -> float | None:
        if self.speed is None:
            return None
        return sum(v.seconds or 0.0 for v in self.to_launch)


def plan_ablation(run: TrainingRun) -> AblationPlan:
    """The paper's ablation grid from the run's config: each variant with what it changes. A variant whose
    technique was already off in the base equals the base; it would train the same run again."""
    base = config_from_dict(run.config)
    base_dict = base.to_dict()
    speed = measured_speed(run)
    variants = []
    for name, config in ablation_grid(base).items():
        as_dict = config.to_dict()
        variants.append(
            Variant(
                name=name,
                config=config,
                differences=config_differences(base_dict, as_dict),
                no_test_error=no_test_error_reason(as_dict),
                seconds=None if speed is None else config.optim.steps * speed.seconds_per_step,
            )
        )
    return AblationPlan(run=run, variants=variants, speed=speed)


def scorer_choices() -> list[tuple[str, str]]:
    """(name, description) of every scoring network the engine knows."""
    return [(name, scorers.SCORERS.get(name).description) for name in scorers.SCORERS.names()]


def domain_scorer(dataset: str) -> str | None:
    """The name of the dataset's own classifier-scorer, or None when the dataset has none (no fixed labels)."""
    name = scorers.domain_scorer_name(dataset)
    return name if name in scorers.SCORERS else None


def _scorer_dataset(name: str) -> str | None:
    """The dataset a domain scorer was trained on (its FID compares with that dataset); None for Inception."""
    return scorers.SCORERS.get(name).dataset


def _scorer_weights(name: str) -> Path:
    """Where the scorer's weights are looked for on this machine: Inception's file, or the domain scorer's
    description (written beside its weights once training reached its accuracy)."""
    if scorers.SCORERS.get(name).kind == "canonical":
        return weights.inception_weights_path()
    return weights.scorer_dir() / f"{name}.json"


@dataclass(frozen=True)
class ScorerOption:
    """A scoring network and whether it can run now; when not, why, and the fixes (the web's first)."""

    name: str
    description: str
    ready: bool
    reason: str = ""
    web_fix: str = ""  # a URL of this site that fixes it, "" when only a worker's command does
    cli_fix: str = ""


def scorer_options(dataset: str | None = None) -> list[ScorerOption]:
    """Every scorer, those that can run now first and the dataset's own classifier first among them.

    A domain scorer is ready once a classifier for it was trained here (its row is done) or its weights
    are on this machine; Inception once its weights file is. Workers load from their own disks: on
    separate machines, the weights must be where the workers look (docs/webapp.md)."""
    trained = set(DomainClassifier.objects.filter(status=JobStatus.DONE).values_list("scorer", flat=True))
    training = dict(
        DomainClassifier.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).values_list("scorer", "pk")
    )
    options = []
    for name, description in scorer_choices():
        own = _scorer_dataset(name)
        path = _scorer_weights(name)
        if name in trained or path.is_file():
            options.append(ScorerOption(name, description, True))
        elif own is None:
            reason = f"its weights are not on this machine ({path})"
            options.append(ScorerOption(name, description, False, reason, "", "python -m gan_engine fetch-weights"))
        else:
            add = reverse("admin:runs_domainclassifier_add") + f"?dataset={own}"
            reason = (
                f"training now (domain classifier #{training[name]})"
                if name in training
                else f"not trained yet: no {own} classifier has been trained"
            )
            cli = f"python -m gan_engine train-scorer --dataset {own}"
            options.append(ScorerOption(name, description, False, reason, "" if name in training else add, cli))
    own_first = domain_scorer(dataset) if dataset else None
    return sorted(options, key=lambda o: (not o.ready, o.name != own_first, o.name != "inception"))


def sweep_scorers(dataset: str | None) -> list[ScorerOption]:
    """The scorers that may score pools of ``dataset``: its own classifier and Inception (a classifier of another
    dataset would score these images by classes they do not have), in ``scorer_options``'s order."""
    return [o for o in scorer_options(dataset) if _scorer_dataset(o.name) in (None, dataset)]


def scorer_fix(scorer: str, error: str) -> ScorerOption | None:
    """The fix of a score that failed because its network could not be loaded; None for other failures."""
    if "ScorerError" not in error:
        return None
    return next((o for o in scorer_options() if o.name == scorer and not o.ready), None)


def queue_positions() -> dict[int, int]:
    """Run id → 1-based place among the queued runs, oldest first (the order in which the broker's FIFO
    queue hands them to GPU workers)."""
    queued = TrainingRun.objects.filter(status=RunStatus.QUEUED).order_by("queued_at", "pk")
    return {pk: i for i, pk in enumerate(queued.values_list("pk", flat=True), start=1)}


def queue_position(run: TrainingRun) -> int | None:
    if run.status != RunStatus.QUEUED or run.queued_at is None:
        return None
    ahead = TrainingRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(queued_at__lt=run.queued_at) | Q(queued_at=run.queued_at, pk__lt=run.pk)
    )
    return ahead.count() + 1


def sweep_steps(available: list[int], n: int) -> list[int]:
    """``n`` of the ``available`` checkpoint steps, evenly spaced from the first to the last (both kept):
    the steps whose positions are nearest to n equal intervals. All of them when there are no more than n."""
    available = sorted(available)
    if n >= len(available):
        return available
    if n == 1:
        return available[-1:]
    return [available[round(i * (len(available) - 1) / (n - 1))] for i in range(n)]


@dataclass
class SweepPlan:
    """A checkpoint sweep before it is queued: the pools it samples and what they cost, or why it cannot run."""

    runs: list[TrainingRun]
    pools: list[tuple[TrainingRun, Checkpoint]]
    pool_size: int
    scorer: str
    top_percent: float | None
    dataset: str = ""
    image_size: int | None = None
    scorer_option: ScorerOption | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def images(self) -> int:
        """Images written: every generated pool and the real one."""
        return (len(self.pools) + 1) * self.pool_size

    @property
    def kept_per_pool(self) -> int:
        if self.top_percent is None:
            return self.pool_size
        return max(1, round(self.pool_size * self.top_percent / 100))

    @property
    def items_per_assignment(self) -> int:
        """Half real, half shared among the generated pools, within what the smallest side can supply."""
        largest = min(2 * self.pool_size, 2 * self.kept_per_pool * max(1, len(self.pools)))
        return max(2, min(SWEEP_MAX_ITEMS, largest))

    @property
    def default_name(self) -> str:
        names = ", ".join(f"#{run.pk}" for run in self.runs)
        return f"sweep of run{'s' if len(self.runs) > 1 else ''} {names}: {len(self.pools)} checkpoints"


def plan_sweep(
    runs: list[TrainingRun],
    *,
    checkpoints: int | None = 4,
    steps: list[int] | None = None,
    pool_size: int = 100,
    scorer: str,
    top_percent: float | None = None,
) -> SweepPlan:
    """Which checkpoints a sweep samples (``checkpoints`` evenly spaced per run, or the given ``steps``) and whether
    it can run: one dataset and image size, a scorer that can run now, a sensible pool size and top percentage."""
    plan = SweepPlan(runs=list(runs), pools=[], pool_size=pool_size, scorer=scorer, top_percent=top_percent)
    if not runs:
        plan.problems.append("runs: choose at least one run")
        return plan
    if pool_size < 8:
        plan.problems.append("pool size: at least 8 images (the C2ST holds half of them out)")
    if top_percent is not None and not 0 < top_percent <= 100:
        plan.problems.append("top k: a percentage in (0, 100]")
    if steps is None and (checkpoints is None or checkpoints < 1):
        plan.problems.append("checkpoints: at least 1")
    datasets = {run.dataset for run in runs}
    sizes = {run.config.get("data", {}).get("image_size") for run in runs}
    if len(datasets) > 1 or len(sizes) > 1:
        plan.problems.append(
            f"runs: a sweep's study shows one dataset at one size; these are {', '.join(sorted(datasets))}"
            + (f" at sizes {', '.join(str(s or 'native') for s in sizes)}" if len(sizes) > 1 else "")
        )
    plan.dataset, plan.image_size = runs[0].dataset, next(iter(sizes))
    options = {option.name: option for option in scorer_options(plan.dataset)}
    plan.scorer_option = options.get(scorer)
    if plan.scorer_option is None:
        plan.problems.append(f"scorer: unknown scorer {scorer!r}; choose one of {', '.join(options)}")
    elif not plan.scorer_option.ready:
        fix = plan.scorer_option.cli_fix
        plan.problems.append(
            f"scorer: {scorer} cannot run now: {plan.scorer_option.reason}" + (f" ({fix})" if fix else "")
        )
    elif _scorer_dataset(scorer) not in (None, plan.dataset):
        plan.problems.append(f"scorer: {scorer} was trained on {_scorer_dataset(scorer)}, not {plan.dataset}")
    for run in runs:
        kept = {c.step: c for c in run.checkpoints.filter(pruned=False)}
        if steps is not None:
            missing = sorted(set(steps) - set(kept))
            if missing:
                plan.problems.append(
                    f"steps: run #{run.pk} has no kept checkpoint at step {', '.join(map(str, missing))} "
                    f"(kept: {', '.join(map(str, sorted(kept))) or 'none'})"
                )
            chosen = sorted(set(steps) & set(kept))
        else:
            chosen = sweep_steps(list(kept), checkpoints or 0)
        if not kept:
            plan.problems.append(f"runs: run #{run.pk} has no checkpoint yet")
        plan.pools += [(run, kept[step]) for step in chosen]
    return plan
