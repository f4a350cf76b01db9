"""Weights files: the errors that say what is missing and how to get it, and no silent download."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gan_engine.cli import main
from gan_engine.errors import ScorerError
from gan_engine.metrics import load_scorer
from gan_engine.metrics import weights as weights_module
from gan_engine.metrics.canonical import InceptionScorer
from gan_engine.metrics.weights import INCEPTION_FILE, INCEPTION_SHA256, inception_weights_path


def test_default_path_is_in_the_cache_and_the_env_overrides_it(isolated_cache, monkeypatch, tmp_path):
    assert inception_weights_path() == isolated_cache / INCEPTION_FILE
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(tmp_path / "w.pth"))
    assert inception_weights_path() == tmp_path / "w.pth"


def test_missing_weights_name_the_path_the_hash_and_the_command(isolated_cache):
    with pytest.raises(ScorerError) as caught:
        load_scorer("inception")
    message = str(caught.value)
    assert str(isolated_cache / INCEPTION_FILE) in message
    assert INCEPTION_SHA256 in message
    assert "fetch-weights" in message


def test_wrong_hash_names_both_hashes(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"not the weights")
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(path))
    with pytest.raises(ScorerError) as caught:
        load_scorer("inception")
    message = str(caught.value)
    assert str(path) in message and INCEPTION_SHA256 in message
    assert weights_module.sha256_file(path) in message
    assert "fetch-weights" in message


def test_a_file_of_another_layout_is_refused_even_with_its_own_hash(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ScorerError, match="not Inception-v3 2015-12-05: missing Conv2d_1a_3x3"):
        InceptionScorer.from_file(path, sha256=weights_module.sha256_file(path))


def test_scoring_paths_never_download(monkeypatch, isolated_cache):
    import urllib.request

    import torch.hub

    def forbidden(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    with pytest.raises(ScorerError):
        load_scorer("inception")


def test_importing_the_metrics_loads_no_torch_and_fetches_nothing():
    code = "import sys, gan_engine.metrics, gan_engine.pools; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fetch_weights_fails_cleanly_without_network(tmp_path, monkeypatch, capsys):
    from gan_engine.cli import fetch_weights

    def offline(url, dest, timeout):
        raise OSError("Name or service not known")

    monkeypatch.setattr(fetch_weights, "_download", offline)
    out = tmp_path / "w.pth"
    assert main(["fetch-weights", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Name or service not known" in err and "--from FILE" in err
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_fetch_weights_from_a_local_copy_checks_the_hash(tmp_path, monkeypatch, random_inception_file, capsys):
    source, sha = random_inception_file
    out = tmp_path / "w.pth"
    assert main(["fetch-weights", "--from", str(source), "--out", str(out)]) == 2
    assert not out.exists()
    assert f"SHA-256 {sha}" in capsys.readouterr().err
    monkeypatch.setattr(weights_module, "INCEPTION_SHA256", sha)  # pretend the random file is the real one
    assert main(["fetch-weights", "--from", str(source), "--out", str(out)]) == 0
    assert weights_module.sha256_file(out) == sha
