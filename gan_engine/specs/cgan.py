"""Conditional GAN (``recipes.cgan``): G and D both see the class, carried in z's first slot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import DATASETS, recipe, setting
from gan_engine.specs import PLAIN

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


@dataclass(frozen=True)
class CGANOptions:
    cgan_classes: int = setting(0, "cgan: number of classes (0: the dataset's)")

    def check(self, errors: dict[str, str]) -> None:
        if self.cgan_classes < 0:
            errors["gans.cgan_classes"] = "must not be negative"


@recipe(
    "cgan",
    "gan_engine.recipes.cgan:CGAN",
    "conditional GAN (Mirza & Osindero 2014): G and D see the class; samples of a chosen class",
    defaults={
        "model": {"architecture": "cgan", "z_dim": 101, **PLAIN},
        "optim": {"lr": 2e-4, "beta1": 0.5, "batch_size": 64},
    },
    options=(CGANOptions,),
    architectures=("cgan",),
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """z has room for the class and noise; the class count is the dataset's."""
    g, dataset = config.gans, config.data.dataset
    info = DATASETS.get(dataset) if dataset in DATASETS else None
    if config.model.z_dim < 2:
        errors["model.z_dim"] = "cgan needs at least 2: the class slot and noise"
    if g.cgan_classes == 1:
        errors["gans.cgan_classes"] = "a conditional GAN needs at least 2 classes"
    elif info is not None and info.num_classes is None and g.cgan_classes == 0:
        errors["gans.cgan_classes"] = f"{dataset}'s classes are known only once read: set the count"
    elif info is not None and info.num_classes is not None and g.cgan_classes not in (0, info.num_classes):
        errors["gans.cgan_classes"] = f"{dataset} has {info.num_classes} classes; use 0 or that"
