"""The CLI end to end on tiny data: train, resume, sample a pool, evaluate, and clear errors."""

import json
import subprocess
import sys

from PIL import Image

from gan_engine.cli import main

TINY_SETS = [
    "data.dataset=digits",
    "data.labels=20",
    "model.width=0.1",
    "optim.batch_size=20",
    "optim.steps=6",
    "run.checkpoint_every=3",
    "run.eval_every=3",
    "run.init_examples=60",
]


def sets(*extra):
    return [arg for item in (*TINY_SETS, *extra) for arg in ("--set", item)]


def test_help_documents_commands_and_every_setting():
    out = subprocess.run([sys.executable, "-m", "gan_engine", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "sample", "evaluate", "demo", "score"):
        assert command in out.stdout
    train_help = subprocess.run(
        [sys.executable, "-m", "gan_engine", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--config", "--set", "--resume", "--out", "techniques.minibatch_discrimination", "optim.lr"):
        assert option in train_help


def test_train_resume_sample_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--quiet", "--out", str(run), *sets()]) == 0
    checkpoint = run / "checkpoints" / "step_00000006.pt"
    assert checkpoint.exists()

    assert main(["train", "--quiet", "--resume", "latest", "--out", str(run), "--set", "optim.steps=9"]) == 0
    assert (run / "checkpoints" / "step_00000009.pt").exists()
    assert "done at step 9" in capsys.readouterr().out

    pool = tmp_path / "pool"
    assert main(["sample", "--checkpoint", str(checkpoint), "--n", "12", "--out", str(pool), "--seed", "40"]) == 0
    pngs = sorted(pool.glob("*.png"))
    assert len(pngs) == 12
    assert Image.open(pngs[0]).size == (28, 28)
    manifest = json.loads((pool / "pool.json").read_text())
    assert sorted(f["seed"] for f in manifest["files"]) == list(range(40, 52))

    assert main(["evaluate", "--checkpoint", str(checkpoint), "--json", "--examples", "100"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 6 and 0 <= result["test_error"] <= 1


def test_bad_settings_stop_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *sets("optim.lr=-1", "techniques.wings=true")]) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "techniques.wings" in err
    assert not out.exists()


def test_corrupt_checkpoint_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["sample", "--checkpoint", str(bad), "--n", "2", "--out", str(tmp_path / "pool")]) == 2
    assert "bad.pt" in capsys.readouterr().err
    assert not (tmp_path / "pool").exists()
