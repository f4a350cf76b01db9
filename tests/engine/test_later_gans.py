"""The later GANs end to end: every recipe trains a few steps through the engine's loop, resumes
exactly, and samples, grids and pools through the unchanged engine paths."""

import json

import pytest
import torch
from PIL import Image

from gan_engine.errors import ConfigError
from gan_engine.recipes.code_grids import write_code_grids
from gan_engine.recipes.cyclegan import translate_folder
from gan_engine.sampling import generate, load_generator
from gan_engine.training.checkpoint import latest_checkpoint, load_checkpoint
from gan_engine.training.grid import save_png
from gan_engine.training.loop import train

RECIPES = ["wgan", "wgan_gp", "began", "progan", "cyclegan", "bgan", "cgan", "infogan"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: on a busy machine a second intra-op thread mostly waits, at ten times the cost."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def later(tiny, recipe, **dotted):
    """A tiny run of ``recipe``: no labelled subset, two steps, sample grids at the end."""
    settings = {"data__labels": 0, "optim__steps": 2, "run__eval_every": 0, "run__log_every": 1}
    if recipe in ("wgan", "wgan_gp"):
        settings["gans__n_critic"] = 2
    if recipe == "cyclegan":
        settings["optim__batch_size"] = 2
    if recipe == "bgan":
        settings["gans__bgan_samples"] = 4
    return tiny(recipe, **{**settings, **dotted})


def assert_states_equal(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_states_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_states_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize(
    ("recipe", "overrides"),
    [(name, {}) for name in RECIPES if name != "cyclegan"]  # cyclegan's own test below samples it too
    + [
        ("wgan_gp", {"model__architecture": "resnet"}),
        ("bgan", {"gans__bgan_mode": "continuous", "gans__bgan_divergence": "squared_hellinger"}),
        ("infogan", {"gans__info_categories": 0, "model__z_dim": 10}),
    ],
)
def test_recipe_trains_samples_and_pools(tmp_path, tiny, recipe, overrides):
    config = later(tiny, recipe, **overrides)
    seen = []
    result = train(config, tmp_path, on_progress=seen.append)
    assert result.status == "done" and result.step == 2
    assert all(torch.isfinite(torch.tensor(v)) for p in seen for v in p.losses.values())
    assert {"loss_d", "loss_g"} <= set(seen[-1].losses)
    assert (tmp_path / "samples" / "step_00000002.png").exists()
    images = generate(load_generator(result.checkpoint, "cpu"), 5, seed=3)
    size = 32 if recipe == "progan" else 28
    assert images.shape == (5, 1, size, size) and images.dtype == torch.uint8


@pytest.mark.parametrize(
    ("recipe", "overrides"),
    [
        ("wgan_gp", {}),
        ("began", {}),
        ("progan", {"gans__progan_phase_steps": 2}),
        ("cyclegan", {"gans__cyclegan_pool_size": 3}),
        ("bgan", {}),
    ],
)
def test_stopped_and_resumed_run_equals_uninterrupted_run_to_the_bit(tmp_path, tiny, recipe, overrides):
    config = later(tiny, recipe, optim__steps=4, run__checkpoint_every=100, **overrides)
    train(config, tmp_path / "straight")
    polls = []
    stopped = train(config, tmp_path / "split", should_stop=lambda: len(polls) >= 2 or polls.append(1))
    assert stopped.status == "stopped" and stopped.step == 3
    resumed = train(config, tmp_path / "split", resume=stopped.checkpoint)
    assert resumed.status == "done" and resumed.step == 4
    a = load_checkpoint(latest_checkpoint(tmp_path / "straight"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert_states_equal(a["recipe"], b["recipe"])
    assert_states_equal(a["rng"], b["rng"])


def test_wgan_critic_weights_stay_clipped(tmp_path, tiny):
    config = later(tiny, "wgan", gans__clip_value=0.005)
    state = load_checkpoint(train(config, tmp_path).checkpoint)
    critic = state["recipe"]["discriminator"]
    params = [v for k, v in critic.items() if "running" not in k and "num_batches" not in k]
    assert max(p.abs().max().item() for p in params) <= 0.005
    assert set(state["recipe"]) == {"generator", "discriminator", "opt_g", "opt_d"}


def test_began_logs_k_and_the_convergence_measure(tmp_path, tiny):
    seen = []
    train(later(tiny, "began", gans__began_lambda_k=0.5, run__eval_every=1), tmp_path, on_progress=seen.append)
    assert {"k", "m_global", "loss_real"} <= set(seen[-1].losses)
    assert seen[-1].metrics == {"m_global": seen[-1].losses["m_global"]}
    assert seen[0].losses["k"] == 0.0 and 0.0 <= seen[-1].losses["k"] <= 1.0
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert 0.0 <= state["recipe"]["equilibrium"]["k"].item() <= 1.0
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all("m_global" in line for line in lines)


def test_progan_grows_and_reports_resolution_and_alpha(tmp_path, tiny):
    seen = []
    config = later(tiny, "progan", optim__steps=7, gans__progan_phase_steps=2, data__image_size=16)
    result = train(config, tmp_path, on_progress=seen.append)
    got = [(p.losses["resolution"], p.losses["alpha"]) for p in seen]
    assert got == [(4, 1), (4, 1), (8, 0), (8, 0.5), (8, 1), (8, 1), (16, 0)]
    # the checkpoint's generator keeps the grown stage, so sampling gives full-size images from it
    state = load_checkpoint(result.checkpoint)
    assert state["recipe"]["generator"]["net.stage"].item() == 2 and state["recipe"]["generator"]["net.alpha"] == 0
    assert generate(load_generator(result.checkpoint, "cpu"), 2).shape == (2, 1, 16, 16)


def test_cyclegan_translates_a_folder_both_ways(tmp_path, tiny):
    config = later(tiny, "cyclegan", gans__cyclegan_domain_a="0, 6", gans__cyclegan_domain_b="1")
    result = train(config, tmp_path / "run")
    assert all(torch.isfinite(torch.tensor(v)) for v in result.last.losses.values())
    assert {"loss_cycle", "loss_identity", "loss_d_a", "loss_d_b"} <= set(result.last.losses)
    state = load_checkpoint(result.checkpoint)
    assert {"generator", "generator_ba", "discriminator", "discriminator_a", "pool_a", "pool_b"} <= set(state["recipe"])
    assert generate(load_generator(result.checkpoint, "cpu"), 3).shape == (3, 1, 28, 28)  # translated bank images
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    save_png(torch.randint(0, 255, (3, 40, 30), dtype=torch.uint8), folder / "colour.png")
    save_png(torch.randint(0, 255, (1, 28, 28), dtype=torch.uint8), tmp_path / "in" / "grey.png")
    for direction in ("a2b", "b2a"):
        written = translate_folder(result.checkpoint, tmp_path / "in", tmp_path / direction, direction, "cpu")
        assert sorted(p.relative_to(tmp_path / direction).as_posix() for p in written) == ["grey.png", "sub/colour.png"]
        assert all(Image.open(p).size == (28, 28) and Image.open(p).mode == "L" for p in written)


def test_cyclegan_refuses_a_class_the_dataset_lacks(tmp_path, tiny):
    with pytest.raises(ConfigError) as info:
        train(later(tiny, "cyclegan", gans__cyclegan_domain_a="Sandal"), tmp_path)
    assert "gans.cyclegan_domain_a" in info.value.errors


@pytest.mark.parametrize("recipe", ["cgan", "infogan"])
def test_code_grids_vary_one_code(tmp_path, tiny, recipe):
    result = train(later(tiny, recipe), tmp_path / "run")
    written = write_code_grids(result.checkpoint, tmp_path / "grids")
    names = sorted(p.name for p in written)
    assert names == (["category.png"] if recipe == "cgan" else ["category.png", "continuous_0.png", "continuous_1.png"])
    assert Image.open(tmp_path / "grids" / "category.png").size == (10 * 30 + 2, 10 * 30 + 2)
