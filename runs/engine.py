"""The web side's view of gan_engine: its torch-free modules (config, registries, scorer names, the demo's
settings), nothing that loads torch.

Loaded with importlib so that the only ``import gan_engine`` statements of the web app stay in
tasks.py, whose task bodies are the one place torch may load (the repository's hook checks this).
Importing this module never imports torch: ``gan_engine.config``, ``gan_engine.registry``,
``gan_engine.metrics.scorers`` and ``gan_engine.pools`` are torch-free by the engine's own contract (tests/runs
checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_config = importlib.import_module("gan_engine.config")
_registry = importlib.import_module("gan_engine.registry")
_scorers = importlib.import_module("gan_engine.metrics.scorers")
_weights = importlib.import_module("gan_engine.metrics.weights")

# The one PNG encoder of pools (torch-free): studies write their copies of pool images with it too.
encode_png = importlib.import_module("gan_engine.pools").encode_png

ConfigError: type[Exception] = importlib.import_module("gan_engine.errors").ConfigError
TrainConfig = _config.TrainConfig
FieldSpec = _config.FieldSpec
DEFAULT_RECIPE: str = _config.TrainConfig.recipe


def build_config(recipe: str | None, overrides: Mapping[str, Any]) -> Any:
    """A validated ``TrainConfig``; raises ``ConfigError`` whose ``errors`` name each bad dotted field."""
    return _config.build_config(recipe, overrides)


def config_from_dict(data: Mapping[str, Any]) -> Any:
    return _config.config_from_dict(data)


def field_specs() -> list[Any]:
    return _config.field_specs()


def ablation_grid(config: Any) -> dict[str, Any]:
    """The paper's ablation (our methods, -VBN+BN, -L+HA, -LS, -L, -MBF) as name → validated config."""
    return _config.ablation_grid(config)


def recipe_names() -> list[str]:
    return _registry.RECIPES.names()


def recipe_description(name: str) -> str:
    return _registry.RECIPES.get(name).description


def recipe_defaults(name: str) -> dict[str, dict[str, Any]]:
    """The nested overrides a recipe puts over the config's own defaults."""
    return _registry.RECIPES.get(name).defaults


def dataset_names() -> list[str]:
    return _registry.DATASETS.names()


def ablation_variants() -> list[str]:
    """The ablation's variant names in the paper's table order."""
    return list(_config.ABLATIONS)


def scorer_choices() -> list[tuple[str, str]]:
    """(name, description) of every scoring network the engine knows."""
    return [(name, _scorers.SCORERS.get(name).description) for name in _scorers.SCORERS.names()]


def domain_scorer(dataset: str) -> str | None:
    """The name of the dataset's own classifier-scorer, or None when the dataset has none (no fixed labels)."""
    name = _scorers.domain_scorer_name(dataset)
    return name if name in _scorers.SCORERS else None


def scorer_dataset(name: str) -> str | None:
    """The dataset a domain scorer was trained on (its FID compares with that dataset); None for Inception."""
    return _scorers.SCORERS.get(name).dataset


def scorer_weights(name: str) -> Path:
    """Where the scorer's weights are looked for on this machine: Inception's file, or the domain scorer's
    description (written beside its weights once training reached its accuracy)."""
    if _scorers.SCORERS.get(name).kind == "canonical":
        return _weights.inception_weights_path()
    return _weights.scorer_dir() / f"{name}.json"


def demo_overrides() -> dict[str, dict[str, Any]]:
    """The engine's own demo run (``python -m gan_engine demo``): the paper's semi-supervised recipe with
    100 labels on Fashion-MNIST, short enough for a CPU."""
    demo = importlib.import_module("gan_engine.cli.demo").DEMO
    return {section: dict(values) for section, values in demo.items()}
