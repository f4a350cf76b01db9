"""Registries of datasets, architectures and recipes by name.

Torch-free on purpose: config validation (and so the web process) reads these facts without loading
torch. Each entry names the module that implements it as ``"package.module:attr"``; ``resolve``
imports it only when a worker or the CLI actually needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)


def resolve(path: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


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


DATASETS: Registry[DatasetInfo] = Registry("dataset")
ARCHITECTURES: Registry[ArchitectureInfo] = Registry("architecture")
RECIPES: Registry[RecipeInfo] = Registry("recipe")

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

# The switches the shared Improved-GAN step honours; every recipe built on it accepts all of them,
# which is what makes the paper's ablation a list of configs from one base.
IMPROVED_GAN_SWITCHES = frozenset(
    {
        "techniques.feature_matching",
        "techniques.minibatch_discrimination",
        "techniques.historical_averaging",
        "techniques.label_smoothing",
        "techniques.virtual_batch_norm",
        "model.weight_norm",
        "model.gaussian_noise",
    }
)

RECIPES.register(
    "improved_gan_ssl",
    RecipeInfo(
        "gan_engine.recipes.improved_gan:ImprovedGAN",
        "the paper's semi-supervised classifier: K+1 discriminator, generator trained by feature matching",
        defaults={
            "data": {"labels": 100},
            "model": {"architecture": "paper_mlp"},
            "techniques": {"feature_matching": True},
            "optim": {"lr": 0.003},
        },
        switches=IMPROVED_GAN_SWITCHES,
        supports_labels=True,
    ),
)
RECIPES.register(
    "improved_gan",
    RecipeInfo(
        "gan_engine.recipes.improved_gan:ImprovedGAN",
        "the paper's 'our methods' for sample quality: minibatch discrimination, VBN in G, one-sided label "
        "smoothing, the labelled K+1 objective",
        defaults={
            "data": {"labels": -1, "image_size": 32},
            "model": {"architecture": "paper_conv", "input_noise": 0.2, "input_dropout": 0.0},
            "techniques": {"minibatch_discrimination": True, "virtual_batch_norm": True, "label_smoothing": True},
            "optim": {"lr": 0.0003, "g_steps": 3, "lr_decay_start": 2 / 3},
        },
        switches=IMPROVED_GAN_SWITCHES,
        supports_labels=True,
    ),
)
RECIPES.register(
    "supervised",
    RecipeInfo(
        "gan_engine.recipes.supervised:Supervised",
        "baseline: the K+1 recipe's classifier trained on the labelled examples alone (no GAN)",
        defaults={"data": {"labels": 100}, "model": {"architecture": "paper_mlp"}, "optim": {"lr": 0.003}},
        switches=frozenset({"model.weight_norm", "model.gaussian_noise"}),
        supports_labels=True,
        requires_labels=True,
    ),
)
RECIPES.register(
    "dcgan",
    RecipeInfo(
        "gan_engine.recipes.improved_gan:ImprovedGAN",
        "the DCGAN baseline: non-saturating loss, batch norm in G, no label information",
        defaults={
            "data": {"labels": 0},
            "model": {"architecture": "dcgan", "weight_norm": False, "gaussian_noise": False},
            "optim": {"lr": 0.0002},
        },
        switches=IMPROVED_GAN_SWITCHES,
        supports_labels=False,
    ),
)

# --- The field's later GANs (issue 6): each recipe's module docstring cites its paper and defaults. ---------------

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

_PLAIN = {"weight_norm": False, "gaussian_noise": False}

RECIPES.register(
    "wgan",
    RecipeInfo(
        "gan_engine.recipes.wgan:WGAN",
        "Wasserstein GAN (Arjovsky et al. 2017): critic with weight clipping, RMSProp, n_critic = 5",
        defaults={
            "model": {"architecture": "dcgan", **_PLAIN},
            "optim": {"lr": 5e-5, "batch_size": 64},
            "gans": {"n_critic": 5, "clip_value": 0.01},
        },
    ),
)
RECIPES.register(
    "wgan_gp",
    RecipeInfo(
        "gan_engine.recipes.wgan_gp:WGANGP",
        "WGAN-GP (Gulrajani et al. 2017): gradient penalty on interpolates, Adam (0, 0.9), DCGAN or ResNet",
        defaults={
            "model": {"architecture": "dcgan_critic", **_PLAIN},
            "optim": {"lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "batch_size": 64},
            "gans": {"n_critic": 5, "gp_weight": 10.0},
        },
    ),
)
RECIPES.register(
    "began",
    RecipeInfo(
        "gan_engine.recipes.began:BEGAN",
        "BEGAN (Berthelot et al. 2017): auto-encoder D, equilibrium k_t, convergence measure M_global",
        defaults={
            "model": {"architecture": "began", "z_dim": 64, **_PLAIN},
            "optim": {"lr": 1e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 16},
            "gans": {"began_gamma": 0.5, "began_lambda_k": 0.001},
        },
    ),
)
RECIPES.register(
    "progan",
    RecipeInfo(
        "gan_engine.recipes.progan:ProGAN",
        "progressive growing (Karras et al. 2018) from 4x4 with fade-in, WGAN-GP loss with drift",
        defaults={
            "data": {"image_size": 32},
            "model": {"architecture": "progan", "z_dim": 128, **_PLAIN},
            "optim": {"lr": 1e-3, "beta1": 0.0, "beta2": 0.99, "batch_size": 64},
            "gans": {"n_critic": 1, "gp_weight": 10.0, "progan_drift": 0.001},
        },
    ),
)
RECIPES.register(
    "cyclegan",
    RecipeInfo(
        "gan_engine.recipes.cyclegan:CycleGAN",
        "CycleGAN (Zhu et al. 2017): unpaired translation between two class sets, cycle and identity losses",
        defaults={
            "model": {"architecture": "cyclegan", "z_dim": 1, **_PLAIN},
            "optim": {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 1, "lr_decay_start": 0.5},
            "gans": {"cyclegan_domain_a": "5", "cyclegan_domain_b": "7"},
        },
    ),
)
RECIPES.register(
    "bgan",
    RecipeInfo(
        "gan_engine.recipes.bgan:BGAN",
        "boundary-seeking GAN (Hjelm et al. 2018): discrete (binarised, importance-weighted) or continuous",
        defaults={
            "model": {"architecture": "dcgan_bernoulli", **_PLAIN},
            "optim": {"lr": 1e-4, "beta1": 0.5, "batch_size": 64},
            "gans": {"bgan_mode": "discrete", "bgan_divergence": "js", "bgan_samples": 20},
        },
    ),
)
RECIPES.register(
    "cgan",
    RecipeInfo(
        "gan_engine.recipes.cgan:CGAN",
        "conditional GAN (Mirza & Osindero 2014): G and D see the class; samples of a chosen class",
        defaults={
            "model": {"architecture": "cgan", "z_dim": 101, **_PLAIN},
            "optim": {"lr": 2e-4, "beta1": 0.5, "batch_size": 64},
        },
    ),
)
RECIPES.register(
    "infogan",
    RecipeInfo(
        "gan_engine.recipes.infogan:InfoGAN",
        "InfoGAN (Chen et al. 2016): categorical and continuous codes learnt through a mutual-information term",
        defaults={
            "model": {"architecture": "infogan", "z_dim": 65, **_PLAIN},
            "optim": {"lr": 2e-4, "beta1": 0.5, "batch_size": 64},
            "gans": {"info_categories": 10, "info_continuous": 2, "info_weight": 1.0},
        },
    ),
)

# --- The paper's scripts as presets: openai/improved-gan, mnist_svhn_cifar10/train_*.py, setting by setting. ------
# docs/presets.md tabulates each setting with the script line it comes from; tests/engine/test_presets.py
# holds the same transcription and checks every preset against it.

# What every script shares: nn.adam_updates (eps 1e-8 under the root), nn.batch_norm (1e-6 under the
# root), weight norm's sqrt(1e-6 + sum v^2), the test-time average from 0 read uncorrected, batch 100,
# seeds 1, data-dependent init on 500 examples.
_PAPER_CODE: dict[str, dict[str, Any]] = {
    "data": {"label_seed": 1},
    "model": {"z_dim": 100, "width": 1.0, "weight_norm": True, "bn_eps": 1e-6, "wn_eps": 1e-6},
    "optim": {"batch_size": 100, "beta1": 0.5, "beta2": 0.999, "adam_eps": 1e-8, "g_steps": 1},
    "run": {"seed": 1, "param_avg_rate": 1e-4, "param_avg_mode": "paper", "init_examples": 500},
}
_PAPER_CHOICES = {"model": {"wn_eps_placement": "inside"}, "optim": {"adam_eps_placement": "inside"}}


def _paper(**sections: dict[str, Any]) -> dict[str, Any]:
    merged = {name: dict(values) for name, values in _PAPER_CODE.items()}
    for layer in (_PAPER_CHOICES, sections):
        for name, values in layer.items():
            merged.setdefault(name, {}).update(values)
    merged["optim"].setdefault("unlabeled_weight", 1.0)
    return merged


PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper_mnist_fm": (
        "train_mnist_feature_matching.py: permutation-invariant MNIST, 100 labels, feature matching, 300 epochs",
        _paper(
            data={"dataset": "mnist", "labels": 100},
            model={"architecture": "paper_mlp", "gaussian_noise": True, "input_noise": 0.3, "hidden_noise": 0.5,
                   "g_output_init": "glorot_uniform"},
            techniques={"feature_matching": True, "feature_distance": "l2", "feature_layer": -1},
            optim={"lr": 0.003, "steps": 300 * 600, "lr_decay_start": 1.0},
        ),
    ),
    "paper_cifar_fm": (
        "train_cifar_feature_matching.py: CIFAR-10, 4000 labels, feature matching (mean absolute), 1200 epochs",
        _paper(
            data={"dataset": "cifar10", "labels": 4000},
            model={"architecture": "paper_conv", "gaussian_noise": False, "input_dropout": 0.2, "dropout": 0.5},
            techniques={"feature_matching": True, "feature_distance": "l1", "feature_layer": -1},
            optim={"lr": 0.0003, "steps": 1200 * 500, "lr_decay_start": 2 / 3, "lr_decay_unit": "epoch"},
        ),
    ),
    "paper_svhn_fm": (
        "train_svhn_feature_matching.py: SVHN, 1000 labels, feature matching, D 2/3 as wide, 900 epochs",
        _paper(
            data={"dataset": "svhn", "labels": 1000},
            model={"architecture": "paper_conv", "gaussian_noise": False, "input_dropout": 0.2, "dropout": 0.5,
                   "d_width": 2 / 3},
            techniques={"feature_matching": True, "feature_distance": "l1", "feature_layer": -1},
            optim={"lr": 0.0003, "steps": 900 * 732, "lr_decay_start": 2 / 3, "lr_decay_unit": "epoch"},
        ),
    ),
    "paper_cifar_mbd": (
        "train_cifar_minibatch_discrimination.py: CIFAR-10 sample quality, minibatch discrimination, 4000 labels, "
        "minimax G loss, 3 G updates per D update",
        _paper(
            data={"dataset": "cifar10", "labels": 4000},
            model={"architecture": "paper_conv", "gaussian_noise": True, "input_noise": 0.2, "input_dropout": 0.0,
                   "dropout": 0.5},
            techniques={"minibatch_discrimination": True, "mbd_kernels": 100, "mbd_dims": 5,
                        "generator_loss": "minimax"},
            optim={"lr": 0.0003, "steps": 1200 * 500, "lr_decay_start": 2 / 3, "lr_decay_unit": "epoch",
                   "g_steps": 3},
        ),
    ),
}  # fmt: skip

for _name, (_description, _defaults) in PRESETS.items():
    RECIPES.register(
        _name,
        RecipeInfo(
            "gan_engine.recipes.improved_gan:ImprovedGAN",
            f"the paper's script {_description}",
            defaults=_defaults,
            switches=IMPROVED_GAN_SWITCHES,
            supports_labels=True,
        ),
    )
