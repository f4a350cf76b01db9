"""The scoring networks by name: the canonical Inception network and one domain classifier per dataset.

Torch-free, like ``gan_engine.registry``: the web lists scorers and validates a choice without loading
torch. ``load_scorer`` resolves the entry's loader only when a worker or the CLI scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gan_engine.registry import DATASETS, Registry, resolve


@dataclass(frozen=True)
class ScorerInfo:
    loader: str  # "module:attr", called as loader(name, device=..., **options)
    kind: str  # "canonical": the field's network, comparable with published numbers; "domain": ours
    dataset: str | None  # the dataset a domain scorer was trained on; None: any images
    num_classes: int
    feature_dim: int
    description: str


SCORERS: Registry[ScorerInfo] = Registry("scorer")

SCORERS.register(
    "inception",
    ScorerInfo(
        "gan_engine.metrics.canonical:load",
        "canonical",
        None,
        1008,
        2048,
        "Inception-v3 of 2015-12-05 (TensorFlow graph, 1008 classes, TF1 resize to 299): the paper's IS and "
        "the field's FID; weights from fetch-weights",
    ),
)

# One classifier per dataset with known labels; each is trained by ``train-scorer --dataset NAME``.
DOMAIN_FEATURES = 128
for _name in DATASETS.names():
    _info = DATASETS.get(_name)
    if _info.num_classes is None:
        continue
    SCORERS.register(
        f"{_name}_cnn",
        ScorerInfo(
            "gan_engine.metrics.domain_scorer:load",
            "domain",
            _name,
            _info.num_classes,
            DOMAIN_FEATURES,
            f"small CNN trained on {_name}'s own labels (train-scorer --dataset {_name}); offline IS and FID",
        ),
    )


def domain_scorer_name(dataset: str) -> str:
    return f"{dataset}_cnn"


def load_scorer(name: str, device: str = "cpu", **options: Any) -> Any:
    """Build scorer ``name`` on ``device``, a ``metrics.scorer.Scorer`` (not named here: it loads torch); raises
    ``ScorerError`` naming the weights file when it is absent."""
    from gan_engine.errors import ScorerError

    if name not in SCORERS:
        raise ScorerError(f"unknown scorer {name!r}; choose one of {', '.join(SCORERS.names())}")
    return resolve(SCORERS.get(name).loader)(name, device=device, **options)
