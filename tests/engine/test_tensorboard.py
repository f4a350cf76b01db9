"""TensorBoard event files beside metrics.jsonl: ``tensorboard --logdir`` on a run folder shows what
metrics.jsonl holds, a resumed run included."""

from __future__ import annotations

import json

import pytest

from gan_engine.run_folder import checkpoint_dir
from gan_engine.training.loop import train

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(run_dir):
    accumulator = event_accumulator.EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def _jsonl(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_reads_the_run_folder_as_metrics_jsonl_has_it_after_a_resume(tmp_path, tiny):
    config = tiny(optim__steps=10, run__checkpoint_every=2, run__keep_checkpoints=5)
    run_dir = tmp_path / "run"
    train(config, run_dir)
    assert list(run_dir.glob("events.out.tfevents.*")), "event files beside metrics.jsonl"
    # As after a worker lost past step 6: the next attempt resumes from its checkpoint and trains 7..10 again.
    train(config, run_dir, resume=checkpoint_dir(run_dir) / "step_00000006.pt")

    scalars, lines = _scalars(run_dir), _jsonl(run_dir)
    assert {"loss/loss_d", "loss/loss_g", "eval/test_error", "speed/images_per_sec"} <= set(scalars)
    logged = [(line["step"], line["loss_d"]) for line in lines]
    assert [step for step, _ in scalars["loss/loss_d"]] == [step for step, _ in logged], "each step once"
    for (_, shown), (_, value) in zip(scalars["loss/loss_d"], logged, strict=True):
        assert shown == pytest.approx(value, rel=1e-6)
    errors = [(line["step"], line["test_error"]) for line in lines if "test_error" in line]
    assert [step for step, _ in scalars["eval/test_error"]] == [step for step, _ in errors]


def test_without_the_package_the_loop_reports_as_before(tmp_path, monkeypatch):
    import sys

    from gan_engine.training import tensorboard

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    hook = print
    assert tensorboard.tee(tmp_path, 0, hook) is hook
    assert not list(tmp_path.iterdir()), "no event file"
