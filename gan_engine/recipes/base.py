"""What the training loop needs from a recipe.

A recipe owns its networks, optimisers and any other state, runs one training step at a time and
reports losses as tensors (the loop reads them only when it logs, so a GPU step never waits on a
host sync). Everything it returns from ``state_dict`` is resumed exactly by ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from gan_engine.config import TrainConfig
from gan_engine.errors import CheckpointError
from gan_engine.models import Discriminator, Generator, build_models
from gan_engine.training.data import TrainingData


class Recipe:
    generator: Generator
    discriminator: Discriminator

    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        self.config = config
        self.data = data
        self.device = device

    # --- the loop's interface -------------------------------------------------------------------
    def initialize(self) -> None:
        """One-time set-up of a new run (data-dependent initialisation)."""

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Metrics logged at evaluation steps; none by default."""
        return {}

    def stateful(self) -> dict[str, Any]:
        """Named objects with ``state_dict``/``load_state_dict`` that a checkpoint must carry."""
        raise NotImplementedError

    # --- shared mechanics -----------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Constant, then linear decay to 0 from ``optim.lr_decay_start`` of the run (the paper's
        CIFAR schedule, lr * min(3 - epoch / 400, 1) over 1200 epochs, is a start of 2/3)."""
        o = self.config.optim
        if o.lr_decay_unit == "epoch":
            # The paper's lr * min(3 - epoch / 400, 1) (train_cifar_feature_matching.py, line 132):
            # constant within an epoch of len(train) // batch steps, never reaching 0.
            per_epoch = max(1, len(self.data.train) // o.batch_size)
            epochs = o.steps / per_epoch
            start_epoch = o.lr_decay_start * epochs
            epoch = step // per_epoch
            if epoch < start_epoch:
                return o.lr
            return o.lr * max(0.0, (epochs - epoch) / max(epochs - start_epoch, 1e-9))
        start = o.lr_decay_start * o.steps
        if step < start:
            return o.lr
        return o.lr * max(0.0, (o.steps - step) / max(o.steps - start, 1e-9))

    @staticmethod
    def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {name: obj.state_dict() for name, obj in self.stateful().items()}

    def load_state_dict(self, state: dict[str, Any], source: str) -> None:
        objects = self.stateful()
        if set(state) != set(objects):
            raise CheckpointError(f"{source} holds {sorted(state)}, this recipe needs {sorted(objects)}")
        for name, obj in objects.items():
            try:
                if isinstance(obj, nn.Module):
                    obj.load_state_dict(state[name], strict=True)
                else:
                    obj.load_state_dict(state[name])
            except (RuntimeError, ValueError, KeyError) as exc:
                raise CheckpointError(f"{source}: {name} does not fit this config: {exc}") from None


class TwoPlayerRecipe(Recipe):
    """A generator and a discriminator built from the config's architecture, each with its own optimiser
    (``opt_g``, ``opt_d``) on the run's learning-rate schedule. A recipe picks another optimiser by overriding
    ``optimizer`` and checkpoints more than the players and their optimisers through ``extra_state``."""

    # False: the generator is built and checkpointed (sampling and the loop's grids use it) but never trained.
    trains_generator = True

    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device, d_outputs: int = 1):
        super().__init__(config, data, device)
        g, d = build_models(config, data.shape, d_outputs)
        self.generator, self.discriminator = g.to(device), d.to(device)
        self.opt_d = self.optimizer(self.discriminator.parameters())
        self.opt_g = self.optimizer(self.generator.parameters()) if self.trains_generator else None

    def optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """Adam with ``optim``'s learning rate and betas and torch's epsilon."""
        o = self.config.optim
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), fused=True)

    def apply_lr(self, step: int) -> None:
        """Set both optimisers' learning rate to the schedule's at ``step``."""
        lr = self.lr_at(step)
        for optimizer in (self.opt_d, self.opt_g):
            if optimizer is not None:
                self.set_lr(optimizer, lr)

    def extra_state(self) -> dict[str, Any]:
        """What a checkpoint carries beyond the players and their optimisers."""
        return {}

    def stateful(self) -> dict[str, Any]:
        players = {"generator": self.generator, "discriminator": self.discriminator, "opt_d": self.opt_d}
        if self.opt_g is not None:
            players["opt_g"] = self.opt_g
        return players | self.extra_state()
