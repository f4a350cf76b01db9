"""Factories and builders of the tests' and benchmarks' rows: users, runs with tiny CPU configs, pools on disk
written by the engine's own pool writer, studies opened through the services."""

from __future__ import annotations

import json
import time
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import factory
import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from annotation.actions import studies
from annotation.actions.answers import next_item, record_judgment
from annotation.actions.assignments import Entry, start_assignment
from annotation.actions.completion import finish_assignment
from annotation.actions.studies import create_study, set_study_pool
from annotation.models import Assignment, Study
from gan_engine.config import build_config
from runs.models import Checkpoint, ImagePool, JobStatus, MetricKind, MetricPoint, PoolScore, RunStatus, TrainingRun

SIDE = 8
# Trains in about a second on the CPU (scikit-learn's digits, a tenth of the paper's widths).
TINY: dict[str, dict[str, Any]] = {
    "data": {"dataset": "digits", "labels": 20},
    "model": {"width": 0.1},
    "optim": {"batch_size": 20, "steps": 8},
    "run": {"log_every": 2, "eval_every": 4, "sample_every": 4, "checkpoint_every": 2, "init_examples": 60},
}


@cache
def pool_folder(kind: str, n: int, side: int = SIDE, tag: str = "") -> str:
    """A pool written once per session by gan_engine.pool_tensors.write_pool (the one encoder of every pool), returned
    relative to ARTIFACTS_DIR. Real images are smooth, generated ones noisy: any rule a test needs is in the pixels."""
    import torch

    from gan_engine.pool_tensors import write_pool

    rng = np.random.default_rng(zlib.crc32(f"{kind}-{n}-{side}-{tag}".encode()))
    if kind == "real":
        ramp = np.linspace(0, 255, side, dtype=np.float64)
        base = (ramp[None, :] + ramp[:, None]) / 2
        pixels = np.stack([np.roll(base, i, axis=1) for i in range(n)]).astype(np.uint8)
    else:
        pixels = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    relative = f"pools/test-{kind}-{n}-{side}{tag}"
    images = torch.from_numpy(pixels[:, None])
    extra = {"indices": list(range(n))} if kind == "real" else {"seeds": list(range(n))}
    write_pool(images, Path(settings.ARTIFACTS_DIR) / relative, source={"test": True}, kind=kind, **extra)
    return relative


# A tiny run long enough to act on mid-run (a few seconds on the CPU), evaluated and sampled only at the end.
STEPS, LOG_EVERY, CHECKPOINT_EVERY = 160, 10, 20
LONG = {
    "optim.steps": STEPS,
    "run.log_every": LOG_EVERY,
    "run.checkpoint_every": CHECKPOINT_EVERY,
    "run.eval_every": 0,
    "run.sample_every": 0,
}
LOGGED = list(range(LOG_EVERY, STEPS + 1, LOG_EVERY))


def tiny_config(recipe: str = "improved_gan_ssl", **dotted: Any) -> Any:
    """The tiny config with dotted overrides: ``tiny_config(**{"optim.steps": 40})``."""
    overrides = {section: dict(values) for section, values in TINY.items()}
    for key, value in dotted.items():
        section, _, name = key.partition(".")
        overrides.setdefault(section, {})[name] = value
    return build_config(recipe, overrides)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")
    is_staff = False


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"researcher{n}")
    is_staff = True
    is_superuser = True


def authenticator_code(user: Any) -> str:
    """The code the user's authenticator app shows now, or the next step's when this step's was used (django-otp
    accepts each step once, and one step either side)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = max(time.time(), (device.last_t + 1) * device.step + device.t0)
    return str(totp.token()).zfill(device.digits)


class TrainingRunFactory(DjangoModelFactory):
    class Meta:
        model = TrainingRun

    class Params:
        settings = factory.Dict({})

    name = factory.Sequence(lambda n: f"run {n}")
    config = factory.LazyAttribute(lambda o: tiny_config(**o.settings).to_dict())
    recipe = factory.LazyAttribute(lambda o: o.config["recipe"])
    dataset = factory.LazyAttribute(lambda o: o.config["data"]["dataset"])
    total_steps = factory.LazyAttribute(lambda o: o.config["optim"]["steps"])
    status = RunStatus.QUEUED
    attempt_limit = 5


class CheckpointFactory(DjangoModelFactory):
    class Meta:
        model = Checkpoint

    run = factory.SubFactory(TrainingRunFactory)
    step = 2
    path = factory.LazyAttribute(lambda o: f"{o.run.run_dir_name}/checkpoints/step_{o.step:08d}.pt")


class MetricPointFactory(DjangoModelFactory):
    class Meta:
        model = MetricPoint

    run = factory.SubFactory(TrainingRunFactory)
    name = "loss_d"
    kind = MetricKind.LOSS
    step = factory.Sequence(lambda n: n + 1)
    value = 1.0


class ImagePoolFactory(DjangoModelFactory):
    class Meta:
        model = ImagePool

    class Params:
        side = SIDE
        tag = ""

    kind = ImagePool.Kind.GENERATED
    dataset = "digits"
    size = 40
    status = JobStatus.DONE
    path = factory.LazyAttribute(lambda o: pool_folder(o.kind, o.size, o.side, o.tag))


# What annotators read, without which a study does not open.
STUDY_TEXTS = {
    "title": "Real or generated?",
    "instructions": "Say whether each image is real or generated.",
    "consent_text": "Your answers are stored under a pseudonym.",
}


def open_study(
    pools: list[ImagePool] | None = None, *, pool_options: dict[int, dict[str, Any]] | None = None, **values: Any
) -> Study:
    """An open study over ``pools`` (default: 40 real and 40 generated images), made through the services."""
    pools = pools or [ImagePoolFactory(kind="real"), ImagePoolFactory(kind="generated")]
    values = {
        "name": "study",
        **STUDY_TEXTS,
        "items_per_assignment": 10,
        "judgments_per_item": 2,
        **values,
    }
    study = create_study(**values)
    for pool in pools:
        set_study_pool(study, pool, **(pool_options or {}).get(pool.pk, {}))
    return studies.open_study(study)


def start(study: Study, worker: str = "w1", platform: str = "invite", **entry: str) -> Assignment:
    return start_assignment(study, Entry(platform=platform, worker_id=worker, **entry))


def answer_all(assignment: Assignment, rule: Any = lambda item: item.item.truth_real, limit: int | None = None) -> int:
    """Answer the assignment's items in order with ``rule(assignment_item) -> answer_real``; returns how many."""
    done = 0
    while limit is None or done < limit:
        item = next_item(Assignment.objects.get(pk=assignment.pk))
        if item is None:
            return done
        record_judgment(assignment, item.token, answer_real=rule(item), response_ms=700 + done)
        done += 1
    return done


def scored_study(generated: int, annotators: int, *, fooled: Any = None, **values: Any) -> Study:
    """A real pool and ``generated`` scored generated pools (IS 2, 3, …, each ± 0.25; FID 30, 29, …), judged by
    ``annotators``. By default pool i's images fool annotators when their id is divisible by i + 2, so the pools'
    errors differ."""
    real = ImagePoolFactory(kind="real")
    pools = [ImagePoolFactory(kind="generated", tag=f"-model{i}") for i in range(generated)]
    for i, pool in enumerate(pools):
        values_ = {"scorer": "inception", "is_mean": 2.0 + i, "is_std": 0.25, "fid": 30.0 - i}
        PoolScore.objects.create(pool=pool, scorer="inception", status=JobStatus.DONE, values=values_)
    rank = {pool.pk: i for i, pool in enumerate(pools)}
    if fooled is None:

        def fooled(item: Any) -> bool:
            return item.item.pk % (rank[item.item.pool_id] + 2) == 0

    study = open_study([real, *pools], **{"items_per_assignment": 12, "judgments_per_item": 10, **values})
    for n in range(annotators):
        assignment = start(study, f"w{n}")
        answer_all(assignment, rule=lambda item: item.item.truth_real or fooled(item))
        finish_assignment(assignment)
    return study


def foreign_pool(tmp_name: str, kind: str, n: int, *, names: list[str] | None = None, **save: Any) -> ImagePool:
    """A pool written by another encoder than the engine's: PIL with ``save`` options (another zlib level, a text
    chunk, a palette...), as a pool copied in from elsewhere would be; ``engine=True``: the engine's encoder, for
    a pool whose file names are what matters."""
    from PIL import Image, PngImagePlugin

    from gan_engine.pools import encode_png

    relative = f"pools/foreign-{tmp_name}"
    folder = Path(settings.ARTIFACTS_DIR) / relative
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(tmp_name))
    mode = save.pop("mode", "L")
    alpha = save.pop("alpha", 255)
    engine = save.pop("engine", False)
    files = []
    for i in range(n):
        name = names[i] if names else f"img{i}.png"
        pixels = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)
        files.append({"name": name})
        if engine:
            (folder / name).write_bytes(encode_png(pixels))
            continue
        image = Image.fromarray(pixels, "L")
        if mode != "L":
            image = image.convert(mode)
        if mode == "RGBA":
            image.putalpha(alpha)
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", f"some other encoder {kind}")
        image.save(folder / name, pnginfo=info, **save)
    manifest = {"kind": kind, "count": n, "size": [8, 8], "mode": mode, "files": files}
    (folder / "pool.json").write_text(json.dumps(manifest))
    return ImagePoolFactory(kind=kind, size=n, path=relative)
