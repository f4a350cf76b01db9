"""The loop: exact resume, hooks, checkpoints that refuse to half-load, every recipe and switch."""

import json
from pathlib import Path

import pytest
import torch

from gan_engine.errors import CheckpointError
from gan_engine.run_folder import list_checkpoints
from gan_engine.training.checkpoint import latest_checkpoint, load_checkpoint
from gan_engine.training.loop import train

ALL_SWITCHES = {
    "techniques__minibatch_discrimination": True,
    "techniques__virtual_batch_norm": True,
    "techniques__historical_averaging": True,
    "techniques__label_smoothing": True,
}


def final_state(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir))


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


@pytest.mark.parametrize("recipe", ["improved_gan_ssl", "dcgan"])
def test_stopped_and_resumed_run_equals_uninterrupted_run_to_the_bit(tmp_path, tiny, recipe):
    switches = ALL_SWITCHES if recipe == "improved_gan_ssl" else {"techniques__label_smoothing": True}
    config = tiny(recipe, optim__steps=10, **switches)
    train(config, tmp_path / "straight")

    polls = []
    stopped = train(config, tmp_path / "split", should_stop=lambda: len(polls) >= 6 or polls.append(1))
    assert stopped.status == "stopped" and stopped.step == 7
    resumed = train(config, tmp_path / "split", resume=stopped.checkpoint)
    assert resumed.status == "done" and resumed.step == 10

    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "split")
    assert_states_equal(a["recipe"], b["recipe"])
    assert_states_equal(a["rng"], b["rng"])
    lines = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == sorted({x["step"] for x in lines})  # no step logged twice


def test_progress_hook_reports_losses_eta_and_test_error(tmp_path, tiny):
    seen = []
    result = train(tiny(), tmp_path, on_progress=seen.append)
    assert [p.step for p in seen][-1] == 8 and result.last is seen[-1]
    assert {"loss_lab", "loss_unl", "loss_g", "train_error"} <= set(seen[0].losses)
    assert all(p.images_per_sec > 0 for p in seen) and seen[-1].eta_seconds == 0
    evaluated = [p for p in seen if p.metrics]
    assert [p.step for p in evaluated] == [4, 8]
    assert all(0 <= p.metrics["test_error"] <= 1 for p in evaluated)
    assert seen[-1].sample_grid and seen[-1].checkpoint
    assert (tmp_path / "samples" / "step_00000008.png").exists()


def test_checkpoint_holds_everything_and_old_ones_are_pruned(tmp_path, tiny):
    config = tiny(run__checkpoint_every=1, run__keep_checkpoints=2, **ALL_SWITCHES)
    train(config, tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000007.pt", "step_00000008.pt"]
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["config"] == config and state["step"] == 8
    assert {"generator", "discriminator", "opt_g", "opt_d", "d_average", "ha_d", "ha_g"} == set(state["recipe"])
    assert "z_ref" in state["recipe"]["generator"]  # the VBN reference batch travels with the generator
    recorded = json.loads((tmp_path / "labelled.json").read_text())
    assert recorded == state["labelled_indices"].tolist() and len(recorded) == 20


def test_same_label_seed_same_labelled_examples(tmp_path, tiny):
    train(tiny(optim__steps=1), tmp_path / "a")
    train(tiny(optim__steps=1, run__seed=5), tmp_path / "b")
    train(tiny(optim__steps=1, data__label_seed=2), tmp_path / "c")
    a, b, c = (json.loads((tmp_path / x / "labelled.json").read_text()) for x in "abc")
    assert a == b and a != c


def test_corrupt_and_truncated_checkpoints_are_reported(tmp_path, tiny):
    result = train(tiny(optim__steps=2), tmp_path / "run")
    good = result.checkpoint
    truncated = tmp_path / "truncated.pt"
    data = Path(good).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a gan_engine checkpoint"):
        load_checkpoint(foreign)


def test_checkpoint_that_does_not_fit_is_refused_not_half_loaded(tmp_path, tiny):
    result = train(tiny(optim__steps=2), tmp_path / "run")
    state = torch.load(result.checkpoint, weights_only=True)
    del state["recipe"]["discriminator"]["head.out.b"]
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    with pytest.raises(CheckpointError, match="discriminator"):
        train(tiny(optim__steps=4), tmp_path / "run", resume=broken)
    with pytest.raises(CheckpointError, match=r"model\.width"):
        train(tiny(optim__steps=4, model__width=0.2), tmp_path / "run", resume=result.checkpoint)


def test_checkpoint_with_code_is_not_unpickled(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "gan_engine.checkpoint/1", "x": Payload()}, evil)
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)


@pytest.mark.parametrize(
    ("recipe", "overrides"),
    [
        ("improved_gan_ssl", {"techniques__feature_distance": "l1", "techniques__feature_layer": 2}),
        ("improved_gan_ssl", {"data__labels": -1, "model__weight_norm": False, "model__gaussian_noise": False}),
        ("improved_gan", {"data__image_size": 32, "optim__steps": 2}),
        ("improved_gan", {"data__image_size": 32, "data__labels": 0, "techniques__historical_averaging": True}),
        ("dcgan", {"techniques__minibatch_discrimination": True, "techniques__virtual_batch_norm": True}),
        ("dcgan", {"data__image_size": 32, "techniques__feature_matching": True}),
    ],
)
def test_recipes_and_switches_train(tmp_path, tiny, recipe, overrides):
    overrides = {"optim__steps": 3, "run__eval_every": 0, **overrides}
    result = train(tiny(recipe, **overrides), tmp_path)
    losses = result.last.losses
    assert result.status == "done"
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_learning_rate_decays_linearly_to_zero(tmp_path, tiny):
    from gan_engine.recipes.base import Recipe

    config = tiny(optim__steps=10, optim__lr_decay_start=0.6, optim__lr=0.5)
    recipe = Recipe.__new__(Recipe)
    recipe.config = config
    assert [round(recipe.lr_at(s), 6) for s in (0, 5, 6, 8, 10)] == [0.5, 0.5, 0.5, 0.25, 0.0]
