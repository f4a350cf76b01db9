"""The recipe smoke's quality measures: class coverage and its entropy, against scipy."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import entropy

PATH = Path(__file__).resolve().parents[2] / "bench" / "recipe_smoke.py"
spec = importlib.util.spec_from_file_location("recipe_smoke", PATH)
recipe_smoke = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe_smoke)


def _logits(classes: list[int]) -> np.ndarray:
    out = np.zeros((len(classes), 10), np.float32)
    out[np.arange(len(classes)), classes] = 5.0
    return out


def test_one_mode_covers_one_class_with_zero_entropy():
    covered, bits, shares = recipe_smoke.coverage(_logits([3] * 500), 10)
    assert (covered, bits) == (1, 0.0)
    assert shares[3] == 1.0


def test_equal_classes_cover_all_ten_with_log2_10_bits():
    covered, bits, _ = recipe_smoke.coverage(_logits(list(range(10)) * 50), 10)
    assert covered == 10 and math.isclose(bits, math.log2(10), rel_tol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_entropy_is_scipys_and_rare_classes_do_not_count(seed):
    rng = np.random.default_rng(seed)
    classes = list(rng.choice(8, size=990)) + [8] * 12 + [9] * 9  # class 9: 9 of 1011, under 1%
    covered, bits, shares = recipe_smoke.coverage(_logits(classes), 10)
    assert covered == 9
    assert math.isclose(bits, entropy(shares, base=2), rel_tol=1e-9)


def test_every_later_gan_has_a_smoke_row_with_its_steps():
    from gan_engine.config import GANS_ARCHITECTURES

    assert set(recipe_smoke.SMOKE) == set(GANS_ARCHITECTURES)
    for recipe, row in recipe_smoke.SMOKE.items():
        config = recipe_smoke.smoke_config(recipe, 0.5, {"optim.batch_size": "4"})
        assert config.optim.steps == round(row["optim.steps"] * 0.5)
        assert config.optim.batch_size == 4 and config.data.dataset == "fashion_mnist"
