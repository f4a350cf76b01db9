"""Factories of the research side's rows, with tiny CPU configs."""

from __future__ import annotations

import time
from typing import Any

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from gan_engine.config import build_config
from runs.models import Checkpoint, MetricKind, MetricPoint, RunStatus, TrainingRun

# Trains in about a second on the CPU (scikit-learn's digits, a tenth of the paper's widths).
TINY: dict[str, dict[str, Any]] = {
    "data": {"dataset": "digits", "labels": 20},
    "model": {"width": 0.1},
    "optim": {"batch_size": 20, "steps": 8},
    "run": {"log_every": 2, "eval_every": 4, "sample_every": 4, "checkpoint_every": 2, "init_examples": 60},
}


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
