"""The run form: one field per setting of gan_engine's config, built from ``field_specs()`` so that a new
section or field of the engine appears here without a change.

A blank field means "the recipe's default", so that choosing a recipe brings its own defaults (the
improved_gan recipe's conv architecture, say) instead of the form's. Values reach the engine as
entered and the engine alone converts and validates them; its ``ConfigError`` names each bad field,
and the form shows every message on its field. Nothing is stored or queued unless the whole config is valid.
"""

from __future__ import annotations

from typing import Any

from django import forms

from gan_engine.config import TrainConfig, build_config, field_specs
from gan_engine.errors import ConfigError
from gan_engine.registry import DATASETS, RECIPES
from runs import planning
from runs.models import DomainClassifier, ImagePool, TrainingRun

BLANK = ("", "recipe default")


def form_name(dotted: str) -> str:
    """``optim.lr`` → ``optim__lr``: form field names must work as template variables."""
    return dotted.replace(".", "__")


def _recipe_default_text(spec: Any) -> str:
    section, _, name = spec.name.partition(".")
    per_recipe = [
        f"{recipe}: {RECIPES.get(recipe).defaults[section][name]!r}"
        for recipe in RECIPES.names()
        if name in RECIPES.get(recipe).defaults.get(section, {})
    ]
    text = f"{spec.help}. Default {spec.default!r}"
    return text + (f" ({'; '.join(per_recipe)})." if per_recipe else ".")


def config_field(spec: Any) -> forms.Field:
    # Labelled with the engine's own name, which the CLI's --set and config files use too.
    common = {"required": False, "label": spec.name.partition(".")[2], "help_text": _recipe_default_text(spec)}
    if spec.choices:
        return forms.ChoiceField(choices=[BLANK, *((c, c) for c in spec.choices)], **common)
    if spec.type is bool:
        return forms.ChoiceField(choices=[BLANK, ("true", "on"), ("false", "off")], **common)
    size = 12 if spec.type in (int, float) else 40
    return forms.CharField(widget=forms.TextInput(attrs={"placeholder": BLANK[1], "size": size}), **common)


def config_sections() -> dict[str, list[str]]:
    """Section → form field names, in the engine's order (the admin's fieldsets)."""
    sections: dict[str, list[str]] = {}
    for spec in field_specs():
        sections.setdefault(spec.name.partition(".")[0], []).append(form_name(spec.name))
    return sections


def _config_fields() -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {
        "recipe": forms.ChoiceField(
            choices=[(name, f"{name}: {RECIPES.get(name).description}") for name in RECIPES.names()],
            initial=TrainConfig.recipe,
        )
    }
    fields.update({form_name(spec.name): config_field(spec) for spec in field_specs()})
    return fields


class _RunConfigFormBase(forms.ModelForm):
    """Validates the config through the engine; ``self.config`` is the ``TrainConfig`` when valid."""

    config: Any = None

    class Meta:
        model = TrainingRun
        fields = ("name", "notes")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and not self.is_bound:
            self.initial.update(overrides_of(self.instance.config))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        recipe = cleaned.get("recipe")
        if not recipe:
            return cleaned
        overrides: dict[str, dict[str, Any]] = {}
        for spec in field_specs():
            value = cleaned.get(form_name(spec.name))
            if value not in (None, ""):
                section, _, name = spec.name.partition(".")
                overrides.setdefault(section, {})[name] = value
        try:
            self.config = build_config(recipe, overrides)
        except ConfigError as exc:
            for field, message in exc.errors.items():
                name = form_name(field)
                if name in self.fields:
                    self.add_error(name, message)
                else:
                    self.add_error(None, f"{field}: {message}")
        return cleaned


# Declared on the class (not added in __init__) so that the admin accepts them in its fieldsets.
RunConfigForm: type[_RunConfigFormBase] = type(
    "RunConfigForm", (_RunConfigFormBase,), {"__module__": __name__, **_config_fields()}
)


def overrides_of(config: dict[str, Any]) -> dict[str, str]:
    """A stored config as form values: the fields that differ from its recipe's defaults, blank elsewhere."""
    recipe = config["recipe"]
    defaults = build_config(recipe, {}).to_dict()
    values: dict[str, str] = {"recipe": recipe}
    for spec in field_specs():
        section, _, name = spec.name.partition(".")
        value = config.get(section, {}).get(name, defaults[section][name])
        if value != defaults[section][name]:
            values[form_name(spec.name)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return values


class RunNotesForm(forms.ModelForm):
    """A launched run's config is fixed; only its name and notes change."""

    class Meta:
        model = TrainingRun
        fields = ("name", "notes")


class SamplePoolForm(forms.Form):
    size = forms.IntegerField(min_value=1, max_value=100_000, initial=1000, help_text="images to generate")
    seed = forms.IntegerField(initial=0, help_text="latent seed of the first image (image i uses seed + i)")


class ScorePoolForm(forms.Form):
    """Offers the scorers that can run now, the pools' dataset's own first; ``unavailable`` says why the
    others cannot and how to fix it."""

    scorer = forms.ChoiceField(
        choices=(), help_text="the network: inception (the paper's) or a dataset's own classifier (<dataset>_cnn)"
    )
    fid = forms.BooleanField(
        required=False, initial=True, label="FID and KID", help_text="also against the real images of the dataset"
    )
    real_split = forms.ChoiceField(choices=(("train", "train"), ("test", "test")), initial="train")
    real_n = forms.IntegerField(
        min_value=2,
        required=False,
        help_text="real images for FID (blank: the whole split; Inception on a CPU needs about an hour for "
        "60,000, once: the statistics are cached)",
    )

    def __init__(self, *args: Any, dataset: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        options = planning.scorer_options(dataset)
        self.fields["scorer"].choices = [(o.name, f"{o.name}: {o.description}") for o in options if o.ready]
        self.unavailable = [o for o in options if not o.ready]


class DomainClassifierForm(forms.ModelForm):
    class Meta:
        model = DomainClassifier
        fields = ("dataset", "epochs", "min_accuracy", "limit")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        datasets = [name for name in DATASETS.names() if planning.domain_scorer(name)]
        self.fields["dataset"] = forms.ChoiceField(choices=[(name, name) for name in datasets])
        self.fields["min_accuracy"].help_text = "nothing is stored below this test accuracy"
        self.fields["limit"].help_text = "train on the first N training images only (quick checks)"


class RealPoolForm(forms.ModelForm):
    """A pool of real images, drawn from a dataset split: the other side of a visual Turing test."""

    class Meta:
        model = ImagePool
        fields = ("dataset", "size", "seed", "split", "image_size")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["dataset"] = forms.ChoiceField(choices=[(name, name) for name in DATASETS.names()])
        self.fields["split"] = forms.ChoiceField(choices=(("train", "train"), ("test", "test")), initial="train")
        self.fields["seed"].help_text = "seed of the random draw"
        self.fields["image_size"].help_text = "resize to this size, to match the generator's output (blank: native)"
