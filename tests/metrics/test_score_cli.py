"""``score`` end to end: a real pool, a domain scorer, cached real statistics, the record in pool.json."""

from __future__ import annotations

import json

import pytest

from gan_engine.cli import main
from gan_engine.errors import ScorerError
from gan_engine.metrics.scoring import check_comparable, top_images
from gan_engine.metrics.weights import INCEPTION_SHA256
from gan_engine.pool_tensors import write_pool


def test_score_stores_is_fid_and_kid_with_the_scorer_identity(tmp_path, digits_scorer_dir, isolated_cache, capsys):
    pool = tmp_path / "real"
    assert main(["real-pool", "--dataset", "digits", "--n", "60", "--out", str(pool), "--split", "test"]) == 0
    args = ["score", "--pool", str(pool), "--scorer", "digits_cnn", "--scorer-dir", str(digits_scorer_dir)]
    assert main([*args, "--splits", "3", "--real", "digits"]) == 0
    printed = capsys.readouterr().out
    assert "IS " in printed and "FID " in printed and "KID " in printed
    manifest = json.loads((pool / "pool.json").read_text())
    (record,) = manifest["scores"]
    sidecar = json.loads((digits_scorer_dir / "digits_cnn.json").read_text())
    assert record["scorer"] == "digits_cnn" and record["weights_sha256"] == sidecar["sha256"]
    assert record["n"] == 60 and record["splits"] == 3 and len(record["is_per_split"]) == 3
    assert record["is_mean"] > 3
    assert record["real"]["dataset"] == "digits" and record["real"]["n"] == 1437
    # Test images against training statistics: close, but not the same set.
    assert 0 < record["fid"] < 50
    assert len(record["image_kl"]) == 60 and len(top_images(record, 0.05)) == 3
    cached = list((isolated_cache / "stats").iterdir())
    assert len(cached) == 1 and "digits_cnn" in cached[0].name

    # Second run: the statistics come from the cache and the same pool gets the same numbers.
    assert main([*args, "--splits", "3", "--real", "digits"]) == 0
    first, second = json.loads((pool / "pool.json").read_text())["scores"]
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-9)
    assert second["is_mean"] == pytest.approx(first["is_mean"], rel=1e-9)


def test_score_without_inception_weights_says_how_to_get_them(tmp_path, isolated_cache, capsys):
    import torch

    pool = write_pool(torch.zeros(3, 1, 28, 28, dtype=torch.uint8), tmp_path / "p", {})
    assert main(["score", "--pool", str(pool), "--scorer", "inception"]) == 2
    err = capsys.readouterr().err
    assert str(isolated_cache) in err and INCEPTION_SHA256 in err and "fetch-weights" in err


def test_records_of_different_networks_are_not_comparable():
    a = {"scorer": "inception", "weights_sha256": INCEPTION_SHA256, "is_mean": 3.0}
    b = {"scorer": "fashion_mnist_cnn", "weights_sha256": "ab" * 32, "is_mean": 8.0}
    check_comparable(a, dict(a))
    with pytest.raises(ScorerError, match="different networks"):
        check_comparable(a, b)
    with pytest.raises(ScorerError, match="different networks"):
        check_comparable(a, {**a, "weights_sha256": "cd" * 32})


def test_a_domain_scorer_refuses_a_pool_of_another_dataset(tmp_path, digits_scorer_dir, capsys):
    import torch

    pool = write_pool(torch.zeros(3, 1, 28, 28, dtype=torch.uint8), tmp_path / "p", {"dataset": "fashion_mnist"})
    args = ["score", "--pool", str(pool), "--scorer", "digits_cnn", "--scorer-dir", str(digits_scorer_dir)]
    assert main(args) == 2
    assert "digits_cnn was trained on digits; this pool is of fashion_mnist" in capsys.readouterr().err
    assert json.loads((pool / "pool.json").read_text())["scores"] == []
