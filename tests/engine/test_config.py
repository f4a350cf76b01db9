"""Config building and validation: every bad input stops before any work, naming its field."""

import json
import subprocess
import sys

import pytest

from gan_engine.config import (
    ABLATIONS,
    TrainConfig,
    ablation_grid,
    build_config,
    config_from_dict,
    field_specs,
    load_config_file,
    parse_sets,
)
from gan_engine.errors import ConfigError


def errors_of(recipe=None, overrides=None):
    with pytest.raises(ConfigError) as info:
        build_config(recipe, overrides)
    return info.value.errors


def test_recipe_defaults_layer_under_overrides():
    ssl = build_config("improved_gan_ssl")
    assert ssl.data.labels == 100 and ssl.techniques.feature_matching and ssl.model.architecture == "paper_mlp"
    quality = build_config("improved_gan")
    assert quality.techniques.minibatch_discrimination
    assert quality.techniques.virtual_batch_norm and quality.techniques.label_smoothing
    assert quality.data.labels == -1 and quality.optim.g_steps == 3
    custom = build_config("improved_gan", {"optim": {"lr": "0.01"}, "techniques": {"label_smoothing": "false"}})
    assert custom.optim.lr == 0.01 and not custom.techniques.label_smoothing
    assert custom.techniques.minibatch_discrimination  # untouched recipe default survives


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"data": {"dataset": "imagenet22k"}}, "data.dataset"),
        ({"model": {"architecture": "transformer"}}, "model.architecture"),
        ({"optim": {"lr": 0}}, "optim.lr"),
        ({"optim": {"lr": -1e-3}}, "optim.lr"),
        ({"optim": {"batch_size": 0}}, "optim.batch_size"),
        ({"optim": {"steps": -5}}, "optim.steps"),
        ({"optim": {"batch_size": "many"}}, "optim.batch_size"),
        ({"data": {"labels": 70000}}, "data.labels"),
        ({"data": {"labels": 105}}, "data.labels"),
        ({"techniques": {"smoothing_alpha": 1.0}}, "techniques.smoothing_alpha"),
        ({"techniques": {"feature_matching": "perhaps"}}, "techniques.feature_matching"),
        ({"techniques": {"wings": True}}, "techniques.wings"),
        ({"engine": {"x": 1}}, "engine"),
        ({"run": {"amp": True, "device": "cpu"}}, "run.amp"),
        ({"run": {"device": "tpu"}}, "run.device"),
        ({"model": {"architecture": "paper_conv"}}, "data.image_size"),
    ],
)
def test_bad_input_names_the_field(overrides, field):
    assert field in errors_of("improved_gan_ssl", overrides)


def test_unknown_recipe():
    assert "recipe" in errors_of("stylegan9")


def test_switch_the_recipe_cannot_use():
    errors = errors_of("dcgan", {"data": {"labels": 100}})
    assert "trains no classifier" in errors["data.labels"]


def test_all_errors_reported_at_once():
    errors = errors_of("improved_gan_ssl", {"optim": {"lr": -1, "batch_size": 0}, "data": {"labels": 7}})
    assert {"optim.lr", "optim.batch_size", "data.labels"} <= set(errors)


def test_round_trip_through_json_is_exact():
    config = build_config("improved_gan", {"data": {"image_size": 32}, "optim": {"steps": 123}})
    again = config_from_dict(json.loads(config.to_json()))
    assert again == config
    assert isinstance(again, TrainConfig)


def test_parse_sets_and_files(tmp_path):
    assert parse_sets(["optim.lr=0.1", "recipe=dcgan"]) == {"optim": {"lr": "0.1"}, "recipe": "dcgan"}
    with pytest.raises(ConfigError) as info:
        parse_sets(["optim.lr"])
    assert "optim.lr" in info.value.errors
    toml = tmp_path / "c.toml"
    toml.write_text('recipe = "dcgan"\n[optim]\nsteps = 50\n')
    assert build_config(None, load_config_file(toml)).optim.steps == 50
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError) as info:
        load_config_file(bad)
    assert str(bad) in info.value.errors["config"]
    with pytest.raises(ConfigError) as info:
        load_config_file(tmp_path / "missing.json")
    assert "missing.json" in info.value.errors["config"]


def test_ablation_grid_is_the_papers_table():
    base = build_config("improved_gan", {"data": {"dataset": "cifar10"}})
    grid = ablation_grid(base)
    assert list(grid) == list(ABLATIONS)
    assert grid["our_methods"] == base
    assert not grid["-VBN+BN"].techniques.virtual_batch_norm
    assert grid["-L+HA"].data.labels == 0 and grid["-L+HA"].techniques.historical_averaging
    assert not grid["-LS"].techniques.label_smoothing
    assert grid["-L"].data.labels == 0 and not grid["-L"].techniques.historical_averaging
    assert not grid["-MBF"].techniques.minibatch_discrimination
    # each ablation changes only what its name says
    for name, config in grid.items():
        changed = {
            f"{s}.{k}"
            for s, values in config.to_dict().items()
            if isinstance(values, dict)
            for k, v in values.items()
            if base.to_dict()[s][k] != v
        }
        assert changed == set(ABLATIONS[name]), name


def test_field_specs_cover_every_setting():
    names = {spec.name for spec in field_specs()}
    assert {"optim.lr", "techniques.virtual_batch_norm", "data.labels", "run.seed"} <= names
    assert all(spec.help for spec in field_specs())


def test_config_module_loads_no_torch():
    code = "import sys, gan_engine, gan_engine.config; gan_engine.config.build_config(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
