"""The research half of the README's demo: an admin account and the engine's small demo run, queued.

Shared by ``manage.py demo_web`` (this half alone) and ``manage.py demo`` (the whole demo, worker and server
included). Running it again reuses the account (with a new password) and the run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from axes.utils import reset as reset_lockouts
from django.contrib.auth import get_user_model

from gan_engine.config import build_config
from gan_engine.errors import ConfigError
from gan_engine.specs.improved_gan import DEMO
from runs import actions
from runs.models import RunStatus, TrainingRun

DEMO_NAME = "demo: Fashion-MNIST, 100 labels"
DEMO_CHECKPOINT_EVERY = 150
DEMO_CHECKPOINTS = 4


@dataclass(frozen=True)
class DemoAccount:
    user: Any
    password: str
    created: bool


def ensure_admin(username: str = "admin", password: str | None = None) -> DemoAccount:
    """A superuser with a password that is printed once: a demo has no other way to hand it over. Its lockout for
    failed logins, if any, goes with the old password."""
    password = password or secrets.token_urlsafe(12)
    user, created = get_user_model().objects.get_or_create(username=username)
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    reset_lockouts(username=username)
    return DemoAccount(user, password, created)


def queue_demo_run(user: Any, *, steps: int | None = None, again: bool = False) -> tuple[TrainingRun, bool]:
    """The demo run (queued now, or the one a previous demo left unless ``again``) and whether it is new.

    Raises ``actions.RunError`` for a config the engine refuses (``steps`` out of range)."""
    # The engine's own demo run (``python -m gan_engine demo``): the paper's semi-supervised recipe with 100 labels
    # on Fashion-MNIST, short enough for a CPU.
    overrides = {section: dict(values) for section, values in DEMO.items()}
    # A fresh machine's demo: the CPU, even where a GPU would be found.
    overrides.setdefault("run", {})["device"] = "cpu"
    # A checkpoint every quarter of the steps, all kept: the demo's study sweeps them (human error against IS).
    overrides["run"].update(checkpoint_every=DEMO_CHECKPOINT_EVERY, keep_checkpoints=DEMO_CHECKPOINTS)
    if steps is not None:
        overrides.setdefault("optim", {})["steps"] = steps
        overrides["run"]["checkpoint_every"] = max(1, steps // DEMO_CHECKPOINTS)
    try:
        config = build_config("improved_gan_ssl", overrides)
    except ConfigError as exc:
        raise actions.RunError(str(exc)) from None
    run = TrainingRun.objects.filter(name=DEMO_NAME).exclude(status=RunStatus.FAILED).first()
    if run is not None and not again:
        return run, False
    return actions.create_run(config, name=DEMO_NAME, user=user, notes="queued by the demo"), True
