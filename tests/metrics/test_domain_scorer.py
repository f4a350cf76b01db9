"""The per-domain scorer: trained on the dataset's labels, stored with its accuracy and hash, checked on load."""

from __future__ import annotations

import json

import pytest
import torch

from gan_engine.config import DataConfig
from gan_engine.data import load_dataset
from gan_engine.errors import ScorerError
from gan_engine.metrics import inception_score, load_scorer, softmax
from gan_engine.metrics.weights import sha256_file


def test_trained_scorer_is_stored_with_accuracy_and_hash(digits_scorer_dir):
    meta = json.loads((digits_scorer_dir / "digits_cnn.json").read_text())
    assert meta["dataset"] == "digits" and meta["num_classes"] == 10
    assert meta["sha256"] == sha256_file(digits_scorer_dir / "digits_cnn.pt")
    assert meta["test_accuracy"] > 0.8  # chance is 0.1


def test_scorer_classifies_real_images_confidently(digits_scorer_dir):
    scorer = load_scorer("digits_cnn", folder=digits_scorer_dir)
    assert scorer.identity == {
        "scorer": "digits_cnn",
        "weights_sha256": sha256_file(digits_scorer_dir / "digits_cnn.pt"),
    }
    test = load_dataset(DataConfig(dataset="digits"), "test")
    out = scorer.extract(test.images, batch_size=100)
    assert out.features.shape == (len(test), 128)
    assert (out.logits.argmax(1) == test.labels.numpy()).mean() > 0.8
    # Real digits: confident and spread over ten classes, so IS is well above that of noise.
    real_is, _ = inception_score(softmax(out.logits), splits=3)
    noise = torch.randint(0, 256, (120, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    noise_is, _ = inception_score(softmax(scorer.extract(noise).logits), splits=3)
    assert real_is > 5 and real_is > 2 * noise_is


def test_a_changed_weights_file_is_refused(digits_scorer_dir, tmp_path):
    for name in ("digits_cnn.pt", "digits_cnn.json"):
        (tmp_path / name).write_bytes((digits_scorer_dir / name).read_bytes())
    with open(tmp_path / "digits_cnn.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ScorerError, match=r"digits_cnn\.pt has SHA-256 .* expected .*train-scorer --dataset digits"):
        load_scorer("digits_cnn", folder=tmp_path)


def test_an_untrained_scorer_names_the_command(tmp_path):
    with pytest.raises(ScorerError, match=r"fashion_mnist_cnn\.json not found .*train-scorer --dataset fashion_mnist"):
        load_scorer("fashion_mnist_cnn", folder=tmp_path)


def test_wrong_image_shape_is_refused(digits_scorer_dir):
    scorer = load_scorer("digits_cnn", folder=digits_scorer_dir)
    with pytest.raises(ScorerError, match="1-channel"):
        scorer.extract(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(ScorerError, match="28x28"):
        scorer.extract(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))


def test_below_the_required_accuracy_nothing_is_stored(tmp_path):
    from gan_engine.metrics.domain_scorer import train

    with pytest.raises(ScorerError, match=r"below the required 0\.9999"):
        train("digits", tmp_path, epochs=1, limit=64, min_accuracy=0.9999)
    assert list(tmp_path.iterdir()) == []


def test_unknown_scorer_lists_the_names():
    with pytest.raises(ScorerError, match=r"unknown scorer 'nope'; choose one of .*inception"):
        load_scorer("nope")


def test_training_is_reproducible_with_a_seed(tmp_path):
    from gan_engine.metrics.domain_scorer import train

    a = train("digits", tmp_path / "a", epochs=1, limit=256, seed=5)
    b = train("digits", tmp_path / "b", epochs=1, limit=256, seed=5)
    assert a["test_accuracy"] == b["test_accuracy"]
    sa = torch.load(tmp_path / "a" / "digits_cnn.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "digits_cnn.pt", weights_only=True)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = train("digits", tmp_path / "c", epochs=1, limit=256, seed=6)
    assert c["sha256"] != a["sha256"]


def test_features_have_unit_rms_on_the_training_set(digits_scorer_dir):
    # KID's cubic kernel assumes O(1) features; the scale is part of the stored (hashed) weights.
    scorer = load_scorer("digits_cnn", folder=digits_scorer_dir)
    features = scorer.extract(load_dataset(DataConfig(dataset="digits"), "train").images, batch_size=500).features
    assert float((features.astype("float64") ** 2).mean()) ** 0.5 == pytest.approx(1.0, rel=1e-4)
    assert json.loads((digits_scorer_dir / "digits_cnn.json").read_text())["feature_scale"] != 1.0
