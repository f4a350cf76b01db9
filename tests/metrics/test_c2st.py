"""The classifier two-sample test (Lopez-Paz & Oquab 2017) on tiny synthetic images: chance for one
distribution, near-perfect for two clearly different ones, its interval against scipy's, its CLI."""

from __future__ import annotations

import json

import pytest
import torch
from scipy.stats import binomtest

from gan_engine.cli import main
from gan_engine.errors import PoolError
from gan_engine.metrics.c2st import accuracy_interval, c2st
from gan_engine.pool_tensors import write_pool


def _noise(n: int, seed: int, low: int = 0, high: int = 256) -> torch.Tensor:
    return torch.randint(low, high, (n, 1, 8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_one_distribution_is_at_chance():
    result = c2st(_noise(200, 1), _noise(200, 2), epochs=10)
    assert result["c2st_n_test"] == 200 and result["c2st_n_train"] == 200
    assert 0.4 <= result["c2st_accuracy"] <= 0.6
    assert result["c2st_ci_low"] <= 0.5 <= result["c2st_ci_high"]
    assert result["c2st_p_value"] > 0.01


def test_clearly_different_distributions_are_told_apart():
    result = c2st(_noise(200, 1, 0, 128), _noise(200, 2, 128, 256), epochs=10)
    assert result["c2st_accuracy"] >= 0.97
    assert result["c2st_ci_low"] > 0.9 and result["c2st_p_value"] < 1e-20


def test_the_samples_are_balanced_so_that_chance_is_half():
    # 300 against 50: a classifier answering "real" always would score 86% on an unbalanced held-out half.
    result = c2st(_noise(300, 1), _noise(50, 2), epochs=2)
    assert result["c2st_n_test"] + result["c2st_n_train"] == 100


def test_the_same_seed_gives_the_same_result():
    a, b = _noise(60, 1), _noise(60, 2, 0, 200)
    assert c2st(a, b, epochs=3, seed=5) == c2st(a, b, epochs=3, seed=5)


def test_interval_and_p_value_are_scipys_exact_binomial():
    low, high, p = accuracy_interval(70, 100)
    ci = binomtest(70, 100).proportion_ci(0.95, method="exact")
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert p == pytest.approx(binomtest(70, 100, 0.5, alternative="greater").pvalue)
    assert accuracy_interval(50, 100)[2] > 0.4


def test_mismatched_or_tiny_samples_are_refused():
    with pytest.raises(PoolError, match="one size and mode"):
        c2st(_noise(20, 1), torch.zeros((20, 3, 8, 8), dtype=torch.uint8))
    with pytest.raises(PoolError, match="at least 8 images"):
        c2st(_noise(20, 1), _noise(5, 2))


def test_cli_compares_two_pool_folders(tmp_path, capsys):
    write_pool(_noise(40, 1, 0, 128), tmp_path / "fake", source={})
    write_pool(_noise(40, 2, 128, 256), tmp_path / "real", source={}, kind="real", indices=list(range(40)))
    argv = ["c2st", "--pool", str(tmp_path / "fake"), "--real", str(tmp_path / "real"), "--epochs", "10"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["c2st_accuracy"] > 0.9 and result["c2st_n_test"] == 40
    assert main(argv) == 0
    assert "held-out images" in capsys.readouterr().out
    assert main(["c2st", "--pool", str(tmp_path / "nothing"), "--real", str(tmp_path / "real")]) == 2
