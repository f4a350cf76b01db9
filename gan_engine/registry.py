"""Registries of datasets, architectures and recipes by name.

Torch-free on purpose: config validation (and so the web process) reads these facts without loading
torch. Each entry names the module that implements it as ``"package.module:attr"``; ``resolve``
imports it only when a worker or the CLI actually needs it.

Recipes register themselves: each module of ``gan_engine.specs`` declares its recipes with ``@recipe``
beside their options and checks, and ``RECIPES`` imports that package the first time it is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name. ``filled_by`` names a module whose import registers the entries: it is imported the
    first time the registry is read, so that the modules it imports may import this one."""

    def __init__(self, kind: str, filled_by: str | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._filled_by = filled_by

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def _filled(self) -> dict[str, T]:
        if self._filled_by is not None:
            module, self._filled_by = self._filled_by, None
            importlib.import_module(module)
        return self._entries

    def get(self, name: str) -> T:
        try:
            return self._filled()[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._filled()

    def names(self) -> list[str]:
        return sorted(self._filled())

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in the order they were registered."""
        return list(self._filled().items())


def resolve(path: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def setting(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A config field with the help text (and choices) that the CLI and the web form show."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class DatasetInfo:
    loader: str
    channels: int
    image_size: int  # native size; image_folder takes the configured size instead
    num_classes: int | None  # None: known only once the folder is read
    num_train: int | None
    description: str


@dataclass(frozen=True)
class ArchitectureInfo:
    builder: str
    # "unit": the model sees images in [0, 1] (sigmoid output); "symmetric": in [-1, 1] (tanh output).
    data_range: str
    image_sizes: tuple[int, ...] | None  # None: any size that the builder accepts
    description: str


@dataclass(frozen=True)
class RecipeInfo:
    step: str
    description: str
    # Nested overrides of the config's own defaults, as a config file would write them.
    defaults: dict[str, Any] = field(default_factory=dict)
    # Switches (dotted config fields) this recipe's step knows how to honour when they are on.
    switches: frozenset[str] = frozenset()
    # Whether the recipe trains the K+1 classifier when ``data.labels`` is non-zero.
    supports_labels: bool = False
    # Whether it cannot run without labels (a classifier baseline).
    requires_labels: bool = False
    # Dataclasses of the options its step reads from the config's ``gans`` section (``setting`` fields, and a
    # ``check(self, errors)`` method validating them); a class listed by several recipes is one set of fields.
    options: tuple[type, ...] = ()
    # The architectures its step can drive; None: any that no other recipe keeps to itself.
    architectures: tuple[str, ...] | None = None
    # ``validate(config, errors)``: checks of a config of this recipe, beyond its options' own.
    validate: Callable[[Any, dict[str, str]], None] | None = None


Validator = TypeVar("Validator", bound=Callable[[Any, dict[str, str]], None])


def recipe(name: str, step: str, description: str, **info: Any) -> Callable[[Validator], Validator]:
    """Register recipe ``name`` with its ``validate(config, errors)`` hook, the function decorated; ``step`` is
    the ``"module:Class"`` of its torch step, ``info`` the other fields of ``RecipeInfo``."""

    def register(validate: Validator) -> Validator:
        RECIPES.register(name, RecipeInfo(step, description, validate=validate, **info))
        return validate

    return register


DATASETS: Registry[DatasetInfo] = Registry("dataset")
ARCHITECTURES: Registry[ArchitectureInfo] = Registry("architecture")
RECIPES: Registry[RecipeInfo] = Registry("recipe", filled_by="gan_engine.specs")

DATASETS.register(
    "fashion_mnist",
    DatasetInfo(
        "gan_engine.data.fashion_mnist:load",
        1,
        28,
        10,
        60000,
        "Fashion-MNIST from GAN_DATA_DIR or Debian's /usr/share/datasets/fashion-mnist",
    ),
)
DATASETS.register(
    "mnist",
    DatasetInfo("gan_engine.data.torchvision_sets:load_mnist", 1, 28, 10, 60000, "MNIST through torchvision"),
)
DATASETS.register(
    "cifar10",
    DatasetInfo("gan_engine.data.torchvision_sets:load_cifar10", 3, 32, 10, 50000, "CIFAR-10 through torchvision"),
)
DATASETS.register(
    "svhn",
    DatasetInfo(
        "gan_engine.data.torchvision_sets:load_svhn", 3, 32, 10, 73257, "SVHN (train split) through torchvision"
    ),
)
DATASETS.register(
    "digits",
    DatasetInfo(
        "gan_engine.data.digits:load", 1, 28, 10, 1437, "scikit-learn's 8x8 digits upscaled to 28x28 (tiny, for tests)"
    ),
)
DATASETS.register(
    "image_folder",
    DatasetInfo(
        "gan_engine.data.image_folder:load",
        3,
        32,
        None,
        None,
        "any folder of images (class subfolders give labels), resized to data.image_size",
    ),
)

ARCHITECTURES.register(
    "paper_mlp",
    ArchitectureInfo(
        "gan_engine.models.paper_mlp:build",
        "unit",
        None,
        "the paper's permutation-invariant MNIST pair (G 100-500-500-784, D 1000-500-250-250-250)",
    ),
)
ARCHITECTURES.register(
    "paper_conv",
    ArchitectureInfo(
        "gan_engine.models.paper_conv:build",
        "symmetric",
        (32,),
        "the paper's CIFAR-10/SVHN pair (9-layer weight-normed conv D, 4-layer G)",
    ),
)
ARCHITECTURES.register(
    "dcgan",
    ArchitectureInfo(
        "gan_engine.models.dcgan:build",
        "symmetric",
        (28, 32),
        "DCGAN (Radford et al. 2016): strided convolutions, batch norm in G, LeakyReLU in D",
    ),
)

# The later GANs' networks, each built for the recipes that name it (``gan_engine.specs``).
ARCHITECTURES.register(
    "dcgan_critic",
    ArchitectureInfo(
        "gan_engine.models.critic_dcgan:build",
        "symmetric",
        (28, 32, 64),
        "DCGAN with no batch norm in D: a per-example critic for WGAN and WGAN-GP",
    ),
)
ARCHITECTURES.register(
    "dcgan_bernoulli",
    ArchitectureInfo(
        "gan_engine.models.critic_dcgan:build_bernoulli",
        "unit",
        (28, 32, 64),
        "DCGAN with a sigmoid output (Bernoulli probabilities) and no batch norm in D, for BGAN",
    ),
)
ARCHITECTURES.register(
    "resnet",
    ArchitectureInfo(
        "gan_engine.models.resnet:build",
        "symmetric",
        (28, 32, 64),
        "the WGAN-GP paper's ResNet pair (Gulrajani et al. 2017): residual up/down blocks, no norm in the critic",
    ),
)
ARCHITECTURES.register(
    "began",
    ArchitectureInfo(
        "gan_engine.models.began_ae:build",
        "symmetric",
        (28, 32, 64),
        "BEGAN (Berthelot et al. 2017): an ELU decoder as G and an auto-encoder as D",
    ),
)
ARCHITECTURES.register(
    "progan",
    ArchitectureInfo(
        "gan_engine.models.progan_nets:build",
        "symmetric",
        (8, 16, 32, 64, 128),
        "ProGAN (Karras et al. 2018): grows from 4x4, pixel norm, equalized learning rate, minibatch stddev",
    ),
)
ARCHITECTURES.register(
    "cyclegan",
    ArchitectureInfo(
        "gan_engine.models.cyclegan_nets:build",
        "symmetric",
        (28, 32, 64, 128),
        "CycleGAN (Zhu et al. 2017): ResNet image-to-image generator, PatchGAN discriminator, instance norm",
    ),
)
ARCHITECTURES.register(
    "cgan",
    ArchitectureInfo(
        "gan_engine.models.conditional:build",
        "symmetric",
        (28, 32, 64),
        "class-conditional DCGAN pair (Mirza & Osindero 2014): the label joins z in G and D's input",
    ),
)
ARCHITECTURES.register(
    "infogan",
    ArchitectureInfo(
        "gan_engine.models.infogan_nets:build",
        "symmetric",
        (28, 32, 64),
        "InfoGAN (Chen et al. 2016): DCGAN pair whose D also carries the code-predicting head Q",
    ),
)
