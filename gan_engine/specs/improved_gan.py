"""The Improved-GAN step's recipes (``recipes.improved_gan``): the paper's semi-supervised classifier and
sample-quality model, the DCGAN baseline, and the paper's scripts as presets. Every technique is a
switch of the shared sections; none reads the ``gans`` section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_engine.registry import recipe

if TYPE_CHECKING:
    from gan_engine.config import TrainConfig

STEP = "gan_engine.recipes.improved_gan:ImprovedGAN"

# The switches the shared Improved-GAN step honours; every recipe built on it accepts all of them,
# which is what makes the paper's ablation a list of configs from one base.
SWITCHES = frozenset(
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


@recipe(
    "improved_gan_ssl",
    STEP,
    "the paper's semi-supervised classifier: K+1 discriminator, generator trained by feature matching",
    defaults={
        "data": {"labels": 100},
        "model": {"architecture": "paper_mlp"},
        "techniques": {"feature_matching": True},
        "optim": {"lr": 0.003},
    },
    switches=SWITCHES,
    supports_labels=True,
)
@recipe(
    "improved_gan",
    STEP,
    "the paper's 'our methods' for sample quality: minibatch discrimination, VBN in G, one-sided label "
    "smoothing, the labelled K+1 objective",
    defaults={
        "data": {"labels": -1, "image_size": 32},
        "model": {"architecture": "paper_conv", "input_noise": 0.2, "input_dropout": 0.0},
        "techniques": {"minibatch_discrimination": True, "virtual_batch_norm": True, "label_smoothing": True},
        "optim": {"lr": 0.0003, "g_steps": 3, "lr_decay_start": 2 / 3},
    },
    switches=SWITCHES,
    supports_labels=True,
)
@recipe(
    "dcgan",
    STEP,
    "the DCGAN baseline: non-saturating loss, batch norm in G, no label information",
    defaults={
        "data": {"labels": 0},
        "model": {"architecture": "dcgan", "weight_norm": False, "gaussian_noise": False},
        "optim": {"lr": 0.0002},
    },
    switches=SWITCHES,
    supports_labels=False,
)
def validate(config: TrainConfig, errors: dict[str, str]) -> None:
    """Nothing beyond the shared sections' checks (``config.validate``)."""


# The paper's scripts as presets: openai/improved-gan, mnist_svhn_cifar10/train_*.py, setting by setting.
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
    register = recipe(
        _name, STEP, f"the paper's script {_description}", defaults=_defaults, switches=SWITCHES, supports_labels=True
    )
    register(validate)


# The engine's demo run (``python -m gan_engine demo``, and the web lab's ``manage.py demo``): the paper's
# semi-supervised recipe (improved_gan_ssl, the default) with 100 labels, shortened to a few minutes on two CPU cores.
DEMO: dict[str, dict[str, Any]] = {
    "data": {"dataset": "fashion_mnist", "labels": 100},
    "optim": {"steps": 600},
    "run": {"checkpoint_every": 300, "sample_every": 200, "eval_every": 300, "eval_examples": 2000, "log_every": 20},
}
