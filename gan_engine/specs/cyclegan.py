"""CycleGAN (``recipes.cyclegan``): unpaired translation between two class sets of one dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gan_engine.registry import DATASETS, recipe, setting
from gan_engine.specs import PLAIN

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig


def parse_domain(text: str) -> list[str]:
    """``"5, 7"`` → ``["5", "7"]``: a CycleGAN domain's classes, as indices or names."""
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True)
class CycleGANOptions:
    cyclegan_domain_a: str = setting("5", "cyclegan: domain A's classes, comma-separated indices or names")
    cyclegan_domain_b: str = setting("7", "cyclegan: domain B's classes, comma-separated indices or names")
    cyclegan_cycle_weight: float = setting(10.0, "cyclegan: weight lambda of the cycle-consistency loss")
    cyclegan_identity_weight: float = setting(0.5, "cyclegan: identity loss weight, as a fraction of lambda")
    cyclegan_pool_size: int = setting(50, "cyclegan: past fakes kept in each discriminator's image pool (0: none)")

    def check(self, errors: dict[str, str]) -> None:
        if self.cyclegan_cycle_weight < 0:
            errors["gans.cyclegan_cycle_weight"] = "must not be negative"
        if not 0 <= self.cyclegan_identity_weight <= 1:
            errors["gans.cyclegan_identity_weight"] = "must be in [0, 1] (a fraction of the cycle weight)"
        if self.cyclegan_pool_size < 0:
            errors["gans.cyclegan_pool_size"] = "must not be negative"


@recipe(
    "cyclegan",
    "gan_engine.recipes.cyclegan:CycleGAN",
    "CycleGAN (Zhu et al. 2017): unpaired translation between two class sets, cycle and identity losses",
    defaults={
        "model": {"architecture": "cyclegan", "z_dim": 1, **PLAIN},
        "optim": {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 1, "lr_decay_start": 0.5},
        "gans": {"cyclegan_domain_a": "5", "cyclegan_domain_b": "7"},
    },
    options=(CycleGANOptions,),
    architectures=("cyclegan",),
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Each domain names classes the dataset has, and the domains share none."""
    g, dataset = config.gans, config.data.dataset
    info = DATASETS.get(dataset) if dataset in DATASETS else None
    domains = {}
    for name in ("cyclegan_domain_a", "cyclegan_domain_b"):
        items = parse_domain(getattr(g, name))
        domains[name] = set(items)
        if not items:
            errors[f"gans.{name}"] = "name at least one class (an index or a name), comma-separated"
        elif info is not None and info.num_classes is not None:
            bad = [i for i in items if i.lstrip("-").isdigit() and not 0 <= int(i) < info.num_classes]
            if bad:
                errors[f"gans.{name}"] = f"{dataset} has classes 0..{info.num_classes - 1}, not {bad[0]}"
    shared = domains["cyclegan_domain_a"] & domains["cyclegan_domain_b"]
    if shared and "gans.cyclegan_domain_b" not in errors:
        errors["gans.cyclegan_domain_b"] = f"shares {', '.join(sorted(shared))} with domain A: the domains must differ"
