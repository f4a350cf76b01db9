"""Typed, frozen training configs, validated in one place.

Imports no torch: the web process validates a researcher's form with this module before anything is
queued. A config is built in layers: the dataclass defaults, then the recipe's defaults (see
``gan_engine.specs``), then a config file, then ``key=value`` overrides. Every layer is checked for
unknown keys and wrong types, and the result is validated as a whole; all problems are reported at
once in a ``ConfigError`` whose keys are dotted field names (``optim.lr``).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gan_engine.errors import ConfigError
from gan_engine.registry import ARCHITECTURES, DATASETS, RECIPES, setting

# Where an epsilon goes: "outside" adds it to the root (torch's Adam, ||v|| + eps); "inside" adds it
# under the root (the paper's code: sqrt(v_hat + eps) in nn.adam_updates, sqrt(eps + sum v^2) in
# weight norm).
EPS_PLACEMENTS = ("outside", "inside")
G_OUTPUT_INITS = ("normal", "glorot_uniform")
GENERATOR_LOSSES = ("non_saturating", "minimax")
LR_DECAY_UNITS = ("step", "epoch")
PARAM_AVG_MODES = ("bias_corrected", "paper")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = setting("fashion_mnist", "dataset name", tuple(DATASETS.names()))
    data_dir: str | None = setting(
        None, "folder of the dataset's files (default: GAN_DATA_DIR or the dataset's own place)"
    )
    image_size: int | None = setting(None, "resize images to this size (default: the dataset's native size)")
    labels: int = setting(0, "labelled examples for the K+1 classifier: 0 none, -1 all, N balanced over classes")
    label_seed: int = setting(1, "seed that picks the labelled subset (same seed, same examples)")


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = setting("paper_mlp", "network pair", tuple(ARCHITECTURES.names()))
    z_dim: int = setting(100, "latent dimension (z ~ U[0,1) as in the paper's code)")
    width: float = setting(1.0, "multiplier on every hidden width (tiny CPU runs use < 1)")
    weight_norm: bool = setting(True, "weight normalisation with data-dependent init in D (and G's output layer)")
    gaussian_noise: bool = setting(True, "Gaussian noise layers in D")
    input_noise: float = setting(0.3, "std of the noise on D's input")
    hidden_noise: float = setting(0.5, "std of the noise after each hidden layer of D (MLP)")
    input_dropout: float = setting(0.2, "dropout on D's input (conv D)")
    dropout: float = setting(0.5, "dropout between D's conv stages (conv D)")
    d_width: float = setting(
        0.0, "multiplier on D's hidden widths alone (0: model.width); the SVHN script's D is 2/3 wide"
    )
    bn_eps: float = setting(1e-5, "batch norm's epsilon under the root, sqrt(var + eps) (the paper's code: 1e-6)")
    wn_eps: float = setting(1e-6, "weight norm's epsilon in g * v / ||v||")
    wn_eps_placement: str = setting(
        "outside", "weight norm: ||v|| + eps, or sqrt(||v||^2 + eps) as the paper's code", EPS_PLACEMENTS
    )
    g_output_init: str = setting(
        "normal", "paper MLP: G's output weights v ~ N(0, 0.05), or Glorot-uniform (Lasagne's default)", G_OUTPUT_INITS
    )


@dataclass(frozen=True)
class TechniquesConfig:
    feature_matching: bool = setting(False, "train G to match D's mean features instead of fooling D")
    feature_layer: int = setting(
        -1, "D layer whose features are matched (index into D's blocks; -1: last before the head)"
    )
    feature_distance: str = setting("l2", "distance between batch means of features", ("l2", "l1"))
    minibatch_discrimination: bool = setting(False, "minibatch features concatenated before D's head")
    mbd_kernels: int = setting(100, "minibatch discrimination: number of kernels B")
    mbd_dims: int = setting(5, "minibatch discrimination: dimension C of each kernel")
    historical_averaging: bool = setting(False, "penalise each player's distance to its parameters' running mean")
    ha_weight: float = setting(1.0, "weight of the historical-averaging penalty")
    label_smoothing: bool = setting(False, "one-sided label smoothing of D's real targets")
    smoothing_alpha: float = setting(0.9, "positive target when label smoothing is on")
    virtual_batch_norm: bool = setting(False, "virtual batch norm in G instead of batch norm")
    generator_loss: str = setting(
        "non_saturating",
        "adversarial G loss: -log D(G(z)), or the minimax log(1 - D(G(z))) of the paper's minibatch script",
        GENERATOR_LOSSES,
    )


@dataclass(frozen=True)
class OptimConfig:
    lr: float = setting(0.003, "Adam learning rate (both players)")
    beta1: float = setting(0.5, "Adam beta1")
    beta2: float = setting(0.999, "Adam beta2")
    batch_size: int = setting(100, "examples per batch (labelled, unlabelled and generated each)")
    steps: int = setting(6000, "discriminator steps to train")
    lr_decay_start: float = setting(1.0, "fraction of steps after which lr decays linearly to 0 (1: constant)")
    g_steps: int = setting(1, "generator updates per discriminator update")
    unlabeled_weight: float = setting(1.0, "weight of the unsupervised term in D's loss")
    lr_decay_unit: str = setting(
        "step", "decay lr every step, or once per epoch as the paper's lr * min(3 - epoch/400, 1)", LR_DECAY_UNITS
    )
    adam_eps: float = setting(1e-8, "Adam's epsilon")
    adam_eps_placement: str = setting(
        "outside",
        "Adam divides by sqrt(v_hat) + eps (torch), or by sqrt(v_hat + eps) (the paper's code)",
        EPS_PLACEMENTS,
    )


@dataclass(frozen=True)
class RunConfig:
    seed: int = setting(1, "seed of the model, noise and batch order")
    device: str = setting("auto", "auto (cuda when present), cpu, cuda or cuda:N")
    amp: bool = setting(False, "mixed precision (bf16 autocast; GPU only)")
    checkpoint_every: int = setting(1000, "steps between checkpoints (one is always written at the end)")
    keep_checkpoints: int = setting(3, "newest periodic checkpoints kept on disk")
    sample_every: int = setting(500, "steps between sample grids (0: only at the end)")
    eval_every: int = setting(600, "steps between semi-supervised test evaluations (0: only at the end)")
    eval_examples: int = setting(0, "test examples used by evaluation (0: the whole test set)")
    log_every: int = setting(10, "steps between progress reports")
    param_avg_rate: float = setting(1e-4, "rate of D's parameter running average used for test error")
    param_avg_mode: str = setting(
        "bias_corrected",
        "D's average read bias-corrected, or as the paper's code: from 0, before each update, uncorrected",
        PARAM_AVG_MODES,
    )
    init_examples: int = setting(500, "examples used for data-dependent initialisation")


# The options classes of every recipe (``RecipeInfo.options``), each once, in the order the recipes register.
GANS_OPTIONS: tuple[type, ...] = tuple(dict.fromkeys(cls for _, info in RECIPES.items() for cls in info.options))


def _gans_section(options: tuple[type, ...]) -> type:
    """The ``gans`` section: a frozen dataclass deriving from every options class, so that it holds their fields
    in order and ``config.gans`` is an instance of each (whose ``check`` reads it). A name declared by two classes
    would be two settings under one name, so it is refused: recipes sharing an option list the class declaring it.
    """
    declared: dict[str, type] = {}
    for cls in options:
        for f in fields(cls):
            if f.name in declared:
                raise TypeError(f"gans.{f.name} is declared by {declared[f.name].__name__} and {cls.__name__}")
            declared[f.name] = cls
    namespace = {
        "__module__": __name__,
        "__doc__": "Hyper-parameters of the later GANs' recipes, their options classes' fields (gan_engine.specs); "
        "the Improved-GAN recipes ignore this section.",
    }
    # Dataclass fields come from the bases in reverse method resolution order: reversed, the first class leads.
    return dataclass(frozen=True)(type("GansConfig", tuple(reversed(options)), namespace))


GansConfig = _gans_section(GANS_OPTIONS)


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "techniques": TechniquesConfig,
    "optim": OptimConfig,
    "run": RunConfig,
    "gans": GansConfig,
}


@dataclass(frozen=True)
class TrainConfig:
    recipe: str = "improved_gan_ssl"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    techniques: TechniquesConfig = field(default_factory=TechniquesConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    gans: GansConfig = field(default_factory=GansConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **dotted: Any) -> TrainConfig:
        """A validated copy with dotted fields changed: ``cfg.replace(**{"optim.lr": 1e-3})``."""
        return build_config(self.recipe, base=self.to_dict(), overrides=_nest(dotted))

    @property
    def uses_labels(self) -> bool:
        return self.data.labels != 0


@dataclass(frozen=True)
class FieldSpec:
    name: str  # dotted
    type: type
    optional: bool
    default: Any
    help: str
    choices: tuple[str, ...] | None


def field_specs() -> list[FieldSpec]:
    """Every settable field, in declaration order: what the CLI's help and the admin form show."""
    specs = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            base, optional = _unwrap_optional(hints[f.name])
            specs.append(
                FieldSpec(f"{section}.{f.name}", base, optional, f.default, f.metadata["help"], f.metadata["choices"])
            )
    return specs


def _unwrap_optional(tp: Any) -> tuple[type, bool]:
    args = typing.get_args(tp)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return tp, False


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(value: Any, tp: type, optional: bool) -> Any:
    """Convert a value from JSON, TOML or a command-line string to the field's type, or raise."""
    if value is None or (optional and isinstance(value, str) and value.lower() in {"none", "null", ""}):
        if optional:
            return None
        raise ValueError("must not be empty")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError(f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"expected text, got {value!r}")
    raise TypeError(f"unsupported field type {tp}")


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        section, _, name = key.partition(".")
        if name:
            out.setdefault(section, {})[name] = value
        else:
            out[key] = value
    return out


def parse_sets(sets: Iterable[str]) -> dict[str, Any]:
    """``["optim.lr=0.001", "recipe=dcgan"]`` → a nested override dict (values stay strings)."""
    dotted = {}
    errors = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            errors[item or "--set"] = "expected key=value, for example optim.lr=0.001"
            continue
        dotted[key.strip()] = value.strip()
    if errors:
        raise ConfigError(errors)
    return _nest(dotted)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML config file into a nested override dict."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError({"config": f"cannot read {path}: {exc.strerror}"}) from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise ConfigError({"config": f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"}) from None
    if not isinstance(data, dict):
        raise ConfigError({"config": f"{path} must hold a table of settings"})
    return data


def _merge(into: dict[str, Any], layer: Mapping[str, Any], errors: dict[str, str]) -> None:
    for key, value in layer.items():
        if key == "recipe":
            into["recipe"] = value
        elif key in SECTIONS:
            if not isinstance(value, Mapping):
                errors[key] = "expected a table of settings"
                continue
            into.setdefault(key, {}).update(value)
        else:
            errors[key] = f"unknown setting; sections are recipe, {', '.join(SECTIONS)}"


def build_config(
    recipe: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    base: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Build and validate a config.

    ``recipe`` (or ``overrides["recipe"]``) picks the recipe whose defaults come first; ``base``, when
    given (a stored config), replaces those defaults; ``overrides`` is a nested dict from a file, a
    form or ``parse_sets``. Raises ``ConfigError`` naming every bad field.
    """
    errors: dict[str, str] = {}
    overrides = dict(overrides or {})
    name = overrides.get("recipe") or recipe or (base or {}).get("recipe") or TrainConfig.recipe
    if name not in RECIPES:
        raise ConfigError({"recipe": f"unknown recipe {name!r}; choose one of {', '.join(RECIPES.names())}"})
    merged: dict[str, Any] = {"recipe": name}
    _merge(merged, base if base is not None else RECIPES.get(name).defaults, errors)
    _merge(merged, overrides, errors)
    merged["recipe"] = name

    sections = {}
    for section, cls in SECTIONS.items():
        values = merged.get(section, {})
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in known:
                errors[f"{section}.{key}"] = f"unknown setting; {section} has {', '.join(sorted(known))}"
                continue
            spec = next(s for s in field_specs() if s.name == f"{section}.{key}")
            try:
                kwargs[key] = _coerce(value, spec.type, spec.optional)
            except ValueError as exc:
                errors[spec.name] = str(exc)
        sections[section] = cls(**kwargs)
    config = TrainConfig(recipe=name, **sections)
    try:
        validate(config)  # also with unreadable fields (left at their defaults): report everything at once
    except ConfigError as exc:
        errors = {**exc.errors, **errors}
    if errors:
        raise ConfigError(errors)
    return config


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a stored config (``to_dict`` output) exactly, validating it again."""
    return build_config(data.get("recipe"), base=data)


def validate(config: TrainConfig) -> None:
    """Check a config as a whole; raise ``ConfigError`` with every problem found."""
    e: dict[str, str] = {}
    d, m, t, o, r = config.data, config.model, config.techniques, config.optim, config.run
    recipe = RECIPES.get(config.recipe)

    if d.dataset not in DATASETS:
        e["data.dataset"] = f"unknown dataset {d.dataset!r}; choose one of {', '.join(DATASETS.names())}"
    if m.architecture not in ARCHITECTURES:
        e["model.architecture"] = (
            f"unknown architecture {m.architecture!r}; choose one of {', '.join(ARCHITECTURES.names())}"
        )
    if d.image_size is not None and not 8 <= d.image_size <= 1024:
        e["data.image_size"] = "must be between 8 and 1024 pixels"
    if d.dataset == "image_folder" and not d.data_dir:
        e["data.data_dir"] = "image_folder needs the folder of images"
    if "data.dataset" not in e and "model.architecture" not in e and "data.image_size" not in e:
        info, arch = DATASETS.get(d.dataset), ARCHITECTURES.get(m.architecture)
        size = d.image_size or info.image_size
        if arch.image_sizes is not None and size not in arch.image_sizes:
            sizes = ", ".join(map(str, arch.image_sizes))
            e["data.image_size"] = f"{m.architecture} takes {sizes}-pixel images, not {size}; set data.image_size"
        if d.labels < -1:
            e["data.labels"] = "must be -1 (all), 0 (none) or a positive count"
        elif d.labels > 0:
            if info.num_train is not None and d.labels > info.num_train:
                e["data.labels"] = (
                    f"{d.labels} labels asked for, but {d.dataset} has {info.num_train} training examples"
                )
            elif info.num_classes is not None and d.labels % info.num_classes:
                e["data.labels"] = f"must be a multiple of the {info.num_classes} classes (balanced per class)"
        if d.labels != 0 and not recipe.supports_labels:
            e["data.labels"] = f"recipe {config.recipe} trains no classifier; set data.labels=0"
        if d.labels == 0 and recipe.requires_labels:
            e["data.labels"] = f"recipe {config.recipe} is a classifier: it needs labels (-1 for all, or a count)"

    for name, value in (("model.z_dim", m.z_dim), ("optim.batch_size", o.batch_size), ("optim.steps", o.steps)):
        if value <= 0:
            e[name] = "must be positive"
    if m.width <= 0:
        e["model.width"] = "must be positive"
    for name, value in (("model.input_noise", m.input_noise), ("model.hidden_noise", m.hidden_noise)):
        if value < 0:
            e[name] = "must not be negative"
    for name, value in (("model.input_dropout", m.input_dropout), ("model.dropout", m.dropout)):
        if not 0 <= value < 1:
            e[name] = "must be in [0, 1)"
    if o.lr <= 0:
        e["optim.lr"] = "must be positive"
    for name, value in (("optim.beta1", o.beta1), ("optim.beta2", o.beta2)):
        if not 0 <= value < 1:
            e[name] = "must be in [0, 1)"
    if not 0 < o.lr_decay_start <= 1:
        e["optim.lr_decay_start"] = "must be in (0, 1]"
    if o.g_steps < 1:
        e["optim.g_steps"] = "must be at least 1"
    if o.unlabeled_weight < 0:
        e["optim.unlabeled_weight"] = "must not be negative"

    if t.mbd_kernels < 1:
        e["techniques.mbd_kernels"] = "must be at least 1"
    if t.mbd_dims < 1:
        e["techniques.mbd_dims"] = "must be at least 1"
    if t.ha_weight < 0:
        e["techniques.ha_weight"] = "must not be negative"
    if not 0 < t.smoothing_alpha < 1:
        e["techniques.smoothing_alpha"] = "must be in (0, 1): the positive target replacing 1"
    if t.feature_distance not in ("l2", "l1"):
        e["techniques.feature_distance"] = "must be l2 or l1"
    for name, value in (
        ("model.wn_eps_placement", m.wn_eps_placement),
        ("model.g_output_init", m.g_output_init),
        ("techniques.generator_loss", t.generator_loss),
        ("optim.lr_decay_unit", o.lr_decay_unit),
        ("optim.adam_eps_placement", o.adam_eps_placement),
        ("run.param_avg_mode", r.param_avg_mode),
    ):
        choices = _CHOICES[name]
        if value not in choices:
            e[name] = f"must be one of {', '.join(choices)}, not {value!r}"
    if m.d_width < 0:
        e["model.d_width"] = "must not be negative (0: model.width)"
    for name, value in (("model.bn_eps", m.bn_eps), ("model.wn_eps", m.wn_eps), ("optim.adam_eps", o.adam_eps)):
        if not 0 <= value < 1:
            e[name] = "must be in [0, 1)"
    for switch in sorted(_switches_on(config) - recipe.switches):
        e[switch] = f"recipe {config.recipe} cannot use this switch"

    if r.device != "auto" and r.device != "cpu" and not r.device.startswith("cuda"):
        e["run.device"] = "must be auto, cpu, cuda or cuda:N"
    if r.amp and r.device == "cpu":
        e["run.amp"] = "mixed precision runs on a GPU only; set run.device to auto or cuda"
    for name in ("checkpoint_every", "keep_checkpoints", "log_every", "init_examples"):
        if getattr(r, name) < 1:
            e[f"run.{name}"] = "must be at least 1"
    for name in ("sample_every", "eval_every", "eval_examples"):
        if getattr(r, name) < 0:
            e[f"run.{name}"] = "must not be negative"
    if not 0 < r.param_avg_rate <= 1:
        e["run.param_avg_rate"] = "must be in (0, 1]"
    _validate_recipe(config, e)
    if e:
        raise ConfigError(e)


# The architectures each later GAN's step can drive; those named here are built for these recipes alone, but
# for the default architecture of a recipe that takes any (dcgan).
GANS_ARCHITECTURES: dict[str, tuple[str, ...]] = {
    name: info.architectures for name, info in RECIPES.items() if info.architectures is not None
}
_GANS_ONLY = set().union(*GANS_ARCHITECTURES.values()) - {
    info.defaults.get("model", {}).get("architecture") for _, info in RECIPES.items() if info.architectures is None
}


def _validate_recipe(config: TrainConfig, e: dict[str, str]) -> None:
    """The gans section's options, the recipe's architecture, and the recipe's own checks."""
    for options in GANS_OPTIONS:
        options.check(config.gans, e)
    m, recipe = config.model, config.recipe
    if "model.architecture" in e:
        return
    allowed = GANS_ARCHITECTURES.get(recipe)
    if allowed is not None and m.architecture not in allowed:
        e["model.architecture"] = f"recipe {recipe} trains {', '.join(allowed)}, not {m.architecture}"
    elif allowed is None and m.architecture in _GANS_ONLY:
        users = sorted(r for r, archs in GANS_ARCHITECTURES.items() if m.architecture in archs)
        e["model.architecture"] = f"{m.architecture} is built for recipe {', '.join(users)}, not {recipe}"
    validate_recipe = RECIPES.get(recipe).validate
    if validate_recipe is not None:
        validate_recipe(config, e)


_CHOICES = {spec.name: spec.choices for spec in field_specs() if spec.choices}


def _switches_on(config: TrainConfig) -> set[str]:
    on = set()
    for section in ("techniques", "model"):
        for f in fields(SECTIONS[section]):
            if f.type in (bool, "bool") and getattr(getattr(config, section), f.name):
                on.add(f"{section}.{f.name}")
    return on


# The paper's Table 3 ablation, as changes to one base config ("our methods").
ABLATIONS: dict[str, dict[str, Any]] = {
    "our_methods": {},
    "-VBN+BN": {"techniques.virtual_batch_norm": False},
    "-L+HA": {"data.labels": 0, "techniques.historical_averaging": True},
    "-LS": {"techniques.label_smoothing": False},
    "-L": {"data.labels": 0},
    "-MBF": {"techniques.minibatch_discrimination": False},
}


def ablation_grid(base: TrainConfig) -> dict[str, TrainConfig]:
    """The paper's ablation table from one base config: name → validated config."""
    return {name: base.replace(**changes) for name, changes in ABLATIONS.items()}
