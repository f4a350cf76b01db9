"""The paper's scripts as presets: each preset's config against a transcription of its script.

The transcription is written here independently of ``specs.improved_gan.PRESETS``, from openai/improved-gan
(mnist_svhn_cifar10/train_*.py and nn.py), each setting with the line it comes from; docs/presets.md
shows the same table beside our defaults."""

import copy
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gan_engine.config import TrainConfig, build_config
from gan_engine.errors import ConfigError
from gan_engine.models import build_models
from gan_engine.nn.normalization import BatchNorm
from gan_engine.nn.weight_norm import WNLinear, _WeightNormed
from gan_engine.objectives import minimax_generator_loss
from gan_engine.recipes.base import Recipe
from gan_engine.training.averaging import ParameterAverage
from gan_engine.training.loop import train
from gan_engine.training.optim import PaperAdam, make_adam

ROOT = Path(__file__).resolve().parents[2]

# Settings every script shares (nn.py: adam_updates lines 26-43, batch_norm line 197, WeightNormLayer
# line 77, l2normalize line 259).
NN_PY = [
    ("optim.adam_eps_placement", "inside", "nn.py:37 g_t = v_hat / T.sqrt(mg_hat + 1e-8)"),
    ("optim.adam_eps", 1e-8, "nn.py:37"),
    ("optim.beta2", 0.999, "nn.py:26 mom2=0.999"),
    ("model.bn_eps", 1e-6, "nn.py:197 T.sqrt(1e-6 + batch_var)"),
    ("model.wn_eps", 1e-6, "nn.py:77 and 259 T.sqrt(1e-6 + T.sum(T.square(W)))"),
    ("model.wn_eps_placement", "inside", "nn.py:77 and 259"),
]

TRANSCRIPTION = {
    "paper_mnist_fm": [
        ("run.seed", 1, "train_mnist_feature_matching.py:14"),
        ("data.label_seed", 1, "train_mnist_feature_matching.py:15"),
        ("optim.unlabeled_weight", 1.0, "train_mnist_feature_matching.py:16"),
        ("optim.batch_size", 100, "train_mnist_feature_matching.py:17"),
        ("data.labels", 100, "train_mnist_feature_matching.py:18 count=10 per class, lines 113-115"),
        ("data.dataset", "mnist", "train_mnist_feature_matching.py:97"),
        ("model.z_dim", 100, "train_mnist_feature_matching.py:29"),
        ("model.architecture", "paper_mlp", "train_mnist_feature_matching.py:30-49"),
        ("model.width", 1.0, "train_mnist_feature_matching.py:31-49"),
        ("model.g_output_init", "glorot_uniform", "train_mnist_feature_matching.py:33 LL.DenseLayer's default W"),
        ("model.weight_norm", True, "train_mnist_feature_matching.py:33 and 39-49"),
        ("model.gaussian_noise", True, "train_mnist_feature_matching.py:38-48"),
        ("model.input_noise", 0.3, "train_mnist_feature_matching.py:38"),
        ("model.hidden_noise", 0.5, "train_mnist_feature_matching.py:40"),
        ("techniques.feature_matching", True, "train_mnist_feature_matching.py:74-76"),
        ("techniques.feature_layer", -1, "train_mnist_feature_matching.py:74 layers[-3]"),
        ("techniques.feature_distance", "l2", "train_mnist_feature_matching.py:76 T.mean(T.square(...))"),
        ("techniques.minibatch_discrimination", False, "train_mnist_feature_matching.py:36-49"),
        ("techniques.virtual_batch_norm", False, "train_mnist_feature_matching.py:31-32 nn.batch_norm"),
        ("optim.beta1", 0.5, "train_mnist_feature_matching.py:85 and 90 mom1=0.5"),
        ("run.param_avg_mode", "paper", "train_mnist_feature_matching.py:86-88 and 92"),
        ("run.param_avg_rate", 1e-4, "train_mnist_feature_matching.py:87"),
        ("run.init_examples", 500, "train_mnist_feature_matching.py:119"),
        ("optim.lr", 0.003, "train_mnist_feature_matching.py:122"),
        ("optim.lr_decay_start", 1.0, "train_mnist_feature_matching.py:122 (constant)"),
        ("optim.steps", 300 * 600, "train_mnist_feature_matching.py:123 and 102 (300 epochs x 600 batches)"),
        ("optim.g_steps", 1, "train_mnist_feature_matching.py:148"),
        *NN_PY,
    ],
    "paper_cifar_fm": [
        ("run.seed", 1, "train_cifar_feature_matching.py:18"),
        ("data.label_seed", 1, "train_cifar_feature_matching.py:19"),
        ("data.labels", 4000, "train_cifar_feature_matching.py:20 count=400 per class, lines 121-125"),
        ("optim.batch_size", 100, "train_cifar_feature_matching.py:21"),
        ("optim.unlabeled_weight", 1.0, "train_cifar_feature_matching.py:22"),
        ("optim.lr", 0.0003, "train_cifar_feature_matching.py:23"),
        ("data.dataset", "cifar10", "train_cifar_feature_matching.py:35"),
        ("model.z_dim", 100, "train_cifar_feature_matching.py:43"),
        ("model.architecture", "paper_conv", "train_cifar_feature_matching.py:45-68"),
        ("model.width", 1.0, "train_cifar_feature_matching.py:46-68"),
        ("model.d_width", 0.0, "train_cifar_feature_matching.py:56-66 (96 and 192: the architecture's own)"),
        ("model.gaussian_noise", False, "train_cifar_feature_matching.py:54-68 (no noise layer)"),
        ("model.input_dropout", 0.2, "train_cifar_feature_matching.py:55"),
        ("model.dropout", 0.5, "train_cifar_feature_matching.py:59 and 63"),
        ("techniques.virtual_batch_norm", False, "train_cifar_feature_matching.py:46-49 nn.batch_norm"),
        ("techniques.minibatch_discrimination", False, "train_cifar_feature_matching.py:54-68"),
        ("optim.beta1", 0.5, "train_cifar_feature_matching.py:98 and 114 mom1=0.5"),
        ("run.param_avg_mode", "paper", "train_cifar_feature_matching.py:99-101 and 103"),
        ("run.param_avg_rate", 1e-4, "train_cifar_feature_matching.py:100"),
        ("techniques.feature_matching", True, "train_cifar_feature_matching.py:108-112"),
        ("techniques.feature_layer", -1, "train_cifar_feature_matching.py:108 disc_layers[-2] (the global pool)"),
        ("techniques.feature_distance", "l1", "train_cifar_feature_matching.py:112 T.mean(abs(m1-m2))"),
        ("optim.steps", 1200 * 500, "train_cifar_feature_matching.py:130 and 39 (1200 epochs x 500 batches)"),
        ("optim.lr_decay_start", 2 / 3, "train_cifar_feature_matching.py:132 lr * min(3 - epoch/400, 1)"),
        ("optim.lr_decay_unit", "epoch", "train_cifar_feature_matching.py:132"),
        ("run.init_examples", 500, "train_cifar_feature_matching.py:148"),
        ("optim.g_steps", 1, "train_cifar_feature_matching.py:163"),
        *NN_PY,
    ],
    "paper_svhn_fm": [
        ("run.seed", 1, "train_svhn_feature_matching.py:19"),
        ("data.label_seed", 1, "train_svhn_feature_matching.py:20"),
        ("data.labels", 1000, "train_svhn_feature_matching.py:21 count=100 per class, lines 128-132"),
        ("optim.batch_size", 100, "train_svhn_feature_matching.py:22"),
        ("optim.unlabeled_weight", 1.0, "train_svhn_feature_matching.py:23"),
        ("optim.lr", 0.0003, "train_svhn_feature_matching.py:24"),
        ("data.dataset", "svhn", "train_svhn_feature_matching.py:39"),
        ("model.z_dim", 100, "train_svhn_feature_matching.py:49"),
        ("model.architecture", "paper_conv", "train_svhn_feature_matching.py:51-74"),
        ("model.width", 1.0, "train_svhn_feature_matching.py:52-56 (G as CIFAR's)"),
        ("model.d_width", 2 / 3, "train_svhn_feature_matching.py:62-72 (64 and 128 for 96 and 192)"),
        ("model.gaussian_noise", False, "train_svhn_feature_matching.py:60-74 (no noise layer)"),
        ("model.input_dropout", 0.2, "train_svhn_feature_matching.py:61"),
        ("model.dropout", 0.5, "train_svhn_feature_matching.py:65 and 69"),
        ("techniques.virtual_batch_norm", False, "train_svhn_feature_matching.py:52-55 nn.batch_norm"),
        ("optim.beta1", 0.5, "train_svhn_feature_matching.py:104 and 121 mom1=0.5"),
        ("run.param_avg_mode", "paper", "train_svhn_feature_matching.py:105-107 and 109"),
        ("run.param_avg_rate", 1e-4, "train_svhn_feature_matching.py:106"),
        ("techniques.feature_matching", True, "train_svhn_feature_matching.py:114-118"),
        ("techniques.feature_layer", -1, "train_svhn_feature_matching.py:114 disc_layers[-2]"),
        ("techniques.feature_distance", "l1", "train_svhn_feature_matching.py:118"),
        ("optim.steps", 900 * 732, "train_svhn_feature_matching.py:137 and 45 (900 epochs x 732 batches)"),
        ("optim.lr_decay_start", 2 / 3, "train_svhn_feature_matching.py:139 lr * min(3 - epoch/300, 1)"),
        ("optim.lr_decay_unit", "epoch", "train_svhn_feature_matching.py:139"),
        ("run.init_examples", 500, "train_svhn_feature_matching.py:155"),
        ("optim.g_steps", 1, "train_svhn_feature_matching.py:170"),
        *NN_PY,
    ],
    "paper_cifar_mbd": [
        ("run.seed", 1, "train_cifar_minibatch_discrimination.py:19"),
        ("optim.batch_size", 100, "train_cifar_minibatch_discrimination.py:20"),
        ("optim.unlabeled_weight", 1.0, "train_cifar_minibatch_discrimination.py:21"),
        ("optim.lr", 0.0003, "train_cifar_minibatch_discrimination.py:22"),
        ("data.labels", 4000, "train_cifar_minibatch_discrimination.py:24 count=400 per class, lines 115-119"),
        ("data.label_seed", 1, "train_cifar_minibatch_discrimination.py:112 (drawn from the model seed's rng)"),
        ("data.dataset", "cifar10", "train_cifar_minibatch_discrimination.py:34"),
        ("model.z_dim", 100, "train_cifar_minibatch_discrimination.py:41"),
        ("model.architecture", "paper_conv", "train_cifar_minibatch_discrimination.py:43-67"),
        ("techniques.virtual_batch_norm", False, "train_cifar_minibatch_discrimination.py:44-47 nn.batch_norm"),
        ("model.gaussian_noise", True, "train_cifar_minibatch_discrimination.py:53"),
        ("model.input_noise", 0.2, "train_cifar_minibatch_discrimination.py:53"),
        ("model.input_dropout", 0.0, "train_cifar_minibatch_discrimination.py:52-54 (no input dropout)"),
        ("model.dropout", 0.5, "train_cifar_minibatch_discrimination.py:57 and 61"),
        ("techniques.minibatch_discrimination", True, "train_cifar_minibatch_discrimination.py:66"),
        ("techniques.mbd_kernels", 100, "train_cifar_minibatch_discrimination.py:66 num_kernels=100"),
        ("techniques.mbd_dims", 5, "nn.py:133 dim_per_kernel=5"),
        ("techniques.label_smoothing", False, "train_cifar_minibatch_discrimination.py:85"),
        ("techniques.feature_matching", False, "train_cifar_minibatch_discrimination.py:106"),
        ("techniques.generator_loss", "minimax", "train_cifar_minibatch_discrimination.py:106"),
        ("optim.beta1", 0.5, "train_cifar_minibatch_discrimination.py:96 and 108 mom1=0.5"),
        ("run.param_avg_mode", "paper", "train_cifar_minibatch_discrimination.py:97-99 and 101"),
        ("run.param_avg_rate", 1e-4, "train_cifar_minibatch_discrimination.py:98"),
        ("optim.steps", 1200 * 500, "train_cifar_minibatch_discrimination.py:124 and 37"),
        ("optim.lr_decay_start", 2 / 3, "train_cifar_minibatch_discrimination.py:126"),
        ("optim.lr_decay_unit", "epoch", "train_cifar_minibatch_discrimination.py:126"),
        ("run.init_examples", 500, "train_cifar_minibatch_discrimination.py:140"),
        ("optim.g_steps", 3, "train_cifar_minibatch_discrimination.py:153-154"),
        *NN_PY,
    ],
}


def _get(config: TrainConfig, dotted: str):
    section, name = dotted.split(".")
    return getattr(getattr(config, section), name)


@pytest.mark.parametrize("preset", sorted(TRANSCRIPTION))
def test_preset_is_its_script_setting_by_setting(preset):
    config = build_config(preset)
    wrong = {}
    for dotted, value, line in TRANSCRIPTION[preset]:
        ours = _get(config, dotted)
        same = math.isclose(ours, value, rel_tol=1e-12) if isinstance(value, float) else ours == value
        if not same:
            wrong[dotted] = f"{ours!r}, script {value!r} ({line})"
    assert not wrong


@pytest.mark.parametrize("preset", sorted(TRANSCRIPTION))
def test_docs_table_lists_every_transcribed_setting(preset):
    text = (ROOT / "docs" / "presets.md").read_text()
    section = text.split(f"### `{preset}`", 1)[1].split("\n### ", 1)[0]
    missing = [d for d, _, _ in TRANSCRIPTION[preset] if f"`{d}`" not in section]
    assert not missing


def test_presets_validate_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; from gan_engine.config import build_config\n"
        "for p in ('paper_mnist_fm', 'paper_cifar_fm', 'paper_svhn_fm', 'paper_cifar_mbd'): build_config(p)\n"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    "dotted, value",
    [
        ("optim.adam_eps_placement", "under"),
        ("run.param_avg_mode", "theano"),
        ("techniques.generator_loss", "wasserstein"),
        ("optim.lr_decay_unit", "batch"),
        ("model.wn_eps_placement", "both"),
        ("model.g_output_init", "zeros"),
        ("model.d_width", -1),
        ("model.bn_eps", -1e-6),
    ],
)
def test_bad_paper_options_name_their_field(dotted, value):
    section, name = dotted.split(".")
    with pytest.raises(ConfigError) as exc:
        build_config("improved_gan_ssl", {section: {name: value}})
    assert dotted in exc.value.errors


def _adam_updates_reference(p0, grads, lr, mom1, mom2=0.999):
    """nn.py adam_updates, lines 26-43, in numpy."""
    p, v, mg = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        v = mom1 * v + (1 - mom1) * g
        mg = mom2 * mg + (1 - mom2) * g**2
        v_hat, mg_hat = v / (1 - mom1**t), mg / (1 - mom2**t)
        p = p - lr * v_hat / np.sqrt(mg_hat + 1e-8)
    return p


def test_paper_adam_is_the_codes_adam_updates_and_differs_from_torchs():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=200)
    # Gradients of very different sizes: where v_hat is near eps the two placements part.
    grads = [rng.normal(size=200) * np.logspace(-6, 0, 200) for _ in range(20)]
    expected = _adam_updates_reference(p0, grads, lr=0.003, mom1=0.5)

    def run(opt_cls, **kw):
        p = torch.nn.Parameter(torch.tensor(p0))
        opt = opt_cls([p], lr=0.003, betas=(0.5, 0.999), eps=1e-8, **kw)
        for g in grads:
            p.grad = torch.tensor(g)
            opt.step()
        return p.detach().numpy()

    np.testing.assert_allclose(run(PaperAdam), expected, rtol=1e-12, atol=1e-14)
    moved_ours, moved_torch = np.abs(run(PaperAdam) - p0), np.abs(run(torch.optim.Adam) - p0)
    assert (moved_ours < 0.5 * moved_torch).mean() > 0.2  # the tiny-gradient entries move far less


def test_paper_adam_resumes_from_its_state_dict():
    p = torch.nn.Parameter(torch.ones(3))
    opt = make_adam([p], build_config("paper_mnist_fm").optim)
    assert isinstance(opt, PaperAdam)
    p.grad = torch.tensor([1.0, -2.0, 3.0])
    opt.step()
    q = torch.nn.Parameter(p.detach().clone())
    resumed = PaperAdam([q], lr=0.003, betas=(0.5, 0.999), eps=1e-8)
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))  # as a checkpoint holds it
    for o, x in ((opt, p), (resumed, q)):
        x.grad = torch.tensor([0.5, 0.5, 0.5])
        o.step()
    assert torch.equal(p, q)


def test_paper_parameter_average_starts_at_zero_uncorrected_and_skips_fixed_parameters():
    net = WNLinear(3, 2, train_scale=False)
    rate = 0.5
    avg = ParameterAverage(net, rate, mode="paper")
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    avg.update(net)
    averaged = avg.averaged()
    assert "g" not in averaged  # fixed scale: the code's givens replace trainable parameters only
    torch.testing.assert_close(averaged["v"], rate * before["v"])  # from 0, no bias correction
    corrected = ParameterAverage(net, rate).to("cpu")
    corrected.update(net)
    torch.testing.assert_close(corrected.averaged()["v"], before["v"])


def test_paper_average_is_taken_before_ds_step(tmp_path, tiny):
    config = tiny(run__param_avg_mode="paper", run__param_avg_rate=1.0, optim__steps=1)
    from gan_engine.recipes.improved_gan import ImprovedGAN
    from gan_engine.training.data import TrainingData

    data = TrainingData.load(config, torch.device("cpu"))
    recipe = ImprovedGAN(config, data, torch.device("cpu"))
    recipe.initialize()
    before = {n: p.detach().clone() for n, p in recipe.discriminator.named_parameters() if p.requires_grad}
    recipe.train_step(0)
    averaged = recipe.d_average.averaged()
    for name, value in before.items():
        torch.testing.assert_close(averaged[name], value)  # rate 1: exactly the pre-step parameters


def test_epoch_schedule_is_the_scripts_lr_times_min_of_3_minus_epoch_over_400_and_1():
    config = build_config("paper_cifar_fm")
    recipe = Recipe(config, SimpleNamespace(train=range(50000)), torch.device("cpu"))
    for epoch in (0, 1, 799, 800, 801, 1000, 1199):
        for within in (0, 250, 499):
            expected = 0.0003 * min(3 - epoch / 400, 1)
            assert math.isclose(recipe.lr_at(epoch * 500 + within), expected, rel_tol=1e-9)


def test_minimax_generator_loss_is_minus_mean_softplus():
    r = torch.tensor([-3.0, 0.0, 2.0])
    expected = -np.mean(np.log1p(np.exp(r.numpy())))
    assert math.isclose(float(minimax_generator_loss(r)), expected, rel_tol=1e-6)


def test_epsilons_and_output_init_reach_the_layers():
    config = build_config("paper_mnist_fm", {"data": {"dataset": "digits"}})
    g, d = build_models(config, (1, 28, 28), 10)
    wn = [m for net in (g, d) for m in net.modules() if isinstance(m, _WeightNormed)]
    bn = [m for m in g.modules() if isinstance(m, BatchNorm)]
    assert wn and bn
    assert all(m.eps == 1e-6 and m.eps_inside for m in wn)
    assert all(m.eps == 1e-6 for m in bn)
    out = [m for m in g.modules() if isinstance(m, WNLinear)][-1]
    bound = math.sqrt(6 / sum(out.v.shape))
    assert out.v.abs().max() <= bound and out.v.abs().max() > 0.9 * bound  # Glorot-uniform, not N(0, 0.05)
    default_g, _ = build_models(build_config("improved_gan_ssl", {"data": {"dataset": "digits"}}), (1, 28, 28), 10)
    assert all(not m.eps_inside for m in default_g.modules() if isinstance(m, _WeightNormed))


def test_svhn_preset_narrows_d_alone():
    config = build_config("paper_svhn_fm")
    g, d = build_models(config, (3, 32, 32), 10)
    widths = [m.v.shape[0] for m in d.modules() if isinstance(m, _WeightNormed) and m.v.dim() == 4]
    assert widths[:3] == [64, 64, 64] and 128 in widths
    assert g.net[0].out_features == 4 * 4 * 512


@pytest.mark.parametrize("preset", ["paper_mnist_fm", "paper_cifar_mbd"])
def test_presets_train_with_every_paper_option_on(tmp_path, preset):
    tiny = {
        "data": {"dataset": "digits", "labels": 20, "image_size": 32 if preset == "paper_cifar_mbd" else None},
        "model": {"width": 0.1},
        "optim": {"batch_size": 20, "steps": 4},
        "run": {"eval_every": 4, "sample_every": 0, "checkpoint_every": 4, "init_examples": 40, "log_every": 2},
    }
    if preset == "paper_cifar_mbd":
        tiny["techniques"] = {"mbd_kernels": 4}
    result = train(build_config(preset, tiny), tmp_path)
    assert result.step == 4
    assert math.isfinite(result.last.losses["loss_g"])
    assert re.search(r"test_error", (tmp_path / "metrics.jsonl").read_text())
