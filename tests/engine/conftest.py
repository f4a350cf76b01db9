import pytest

from gan_engine.config import build_config

TINY = {
    "data": {"dataset": "digits", "labels": 20},
    "model": {"width": 0.1},
    "optim": {"batch_size": 20, "steps": 8},
    "run": {"log_every": 2, "eval_every": 4, "sample_every": 4, "checkpoint_every": 4, "init_examples": 60},
}


def tiny_config(recipe="improved_gan_ssl", **dotted):
    """A config that trains in well under a second on the CPU; dotted overrides on top."""
    overrides = {section: dict(values) for section, values in TINY.items()}
    if recipe == "dcgan":
        overrides["data"]["labels"] = 0
    for key, value in dotted.items():
        section, name = key.split("__")
        overrides.setdefault(section, {})[name] = value
    return build_config(recipe, overrides)


@pytest.fixture
def tiny():
    return tiny_config
