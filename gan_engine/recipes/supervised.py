"""The supervised baseline: the K+1 recipe's discriminator trained on the labelled subset alone.

Same network, same noise, same optimiser, same parameter averaging for test error, no generator
and no unlabelled data: what the semi-supervised recipe must beat for its unlabelled data and its
generator to have been worth their cost. The generator is built (and checkpointed, so sampling and
the loop's grids keep working) but never trained.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_engine.config import TrainConfig
from gan_engine.nn import data_dependent_init
from gan_engine.objectives import supervised_loss
from gan_engine.recipes.base import TwoPlayerRecipe
from gan_engine.recipes.improved_gan import evaluate_classifier
from gan_engine.training.averaging import ParameterAverage
from gan_engine.training.data import TrainingData


class Supervised(TwoPlayerRecipe):
    trains_generator = False

    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device, data.num_classes)
        self.d_average = ParameterAverage(self.discriminator, config.run.param_avg_rate).to(device)

    def extra_state(self) -> dict[str, Any]:
        return {"d_average": self.d_average}

    def initialize(self) -> None:
        batch = self.data.init_batch()
        data_dependent_init(self.discriminator, lambda: self.discriminator(batch))

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.apply_lr(step)
        x, y = self.data.labelled_batch(step)
        logits, _ = self.discriminator(x)
        loss = supervised_loss(logits, y)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.d_average.update(self.discriminator)
        return {"loss_lab": loss.detach(), "train_error": (logits.argmax(1) != y).float().mean()}

    def evaluate(self) -> dict[str, float]:
        return evaluate_classifier(self)
