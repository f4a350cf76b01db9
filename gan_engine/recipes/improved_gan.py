"""The Improved-GAN step: every technique of Salimans et al. (2016) as a switch on one step.

Recipes ``improved_gan_ssl``, ``improved_gan`` and ``dcgan`` are this step with different defaults
(``specs.improved_gan``). One step, per the public code's training loop:

1. D: a labelled batch (when ``data.labels`` is set), an unlabelled batch and a generated batch go
   through D; D minimises loss_lab + unlabeled_weight * loss_unl (+ historical averaging). With
   labels D has K logits and is the K+1 classifier; without, it has one logit.
2. D's parameter average (for test error) and historical average are updated.
3. G, ``optim.g_steps`` times: feature matching against a fresh real batch, or the non-saturating
   adversarial loss (+ historical averaging).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from gan_engine.config import TrainConfig
from gan_engine.errors import ConfigError
from gan_engine.nn import data_dependent_init, frozen
from gan_engine.objectives import (
    HistoricalAverage,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    minimax_generator_loss,
    realness,
    supervised_loss,
)
from gan_engine.recipes.base import Recipe, TwoPlayerRecipe
from gan_engine.training.averaging import ParameterAverage
from gan_engine.training.data import GENERATOR_REAL, TrainingData
from gan_engine.training.optim import make_adam


class ImprovedGAN(TwoPlayerRecipe):
    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device, data.num_classes if config.uses_labels else 1)
        self.labelled = config.uses_labels
        t = config.techniques
        blocks = len(self.discriminator.blocks)
        if not -blocks <= t.feature_layer < blocks:
            raise ConfigError({"techniques.feature_layer": f"D has {blocks} blocks: use -{blocks}..{blocks - 1}"})
        self.feature_layer = t.feature_layer if t.feature_matching else None
        r = config.run
        self.d_average = ParameterAverage(self.discriminator, r.param_avg_rate, r.param_avg_mode).to(device)
        # The paper's code updates the average in the same Theano update as D's parameters, so from
        # the parameters before the step (train_cifar_feature_matching.py, lines 100 and 103).
        self.average_before_step = r.param_avg_mode == "paper"
        self.ha_d = self.ha_g = None
        if t.historical_averaging:
            self.ha_d = HistoricalAverage(self.discriminator.parameters()).to(device)
            self.ha_g = HistoricalAverage(self.generator.parameters()).to(device)
        self.alpha = t.smoothing_alpha if t.label_smoothing else 1.0
        self.amp = config.run.amp and device.type == "cuda"

    def optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return make_adam(params, self.config.optim)

    def extra_state(self) -> dict[str, Any]:
        objects: dict[str, Any] = {"d_average": self.d_average}
        if self.ha_d is not None:
            objects |= {"ha_d": self.ha_d, "ha_g": self.ha_g}
        return objects

    def initialize(self) -> None:
        batch = self.data.init_batch()
        g, d = self.generator, self.discriminator
        data_dependent_init(g, lambda: g(g.sample_z(self.config.optim.batch_size)))
        data_dependent_init(d, lambda: d(batch))
        if self.ha_d is not None:  # the running means start from the initialised parameters
            self.ha_d.reset()
            self.ha_g.reset()

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp)

    def _logits(self, parts: Sequence[torch.Tensor], **kwargs) -> list[torch.Tensor]:
        """D's logits for several minibatches: one pass when D treats examples independently
        (minibatch features still see only their own minibatch), else one pass each."""
        d = self.discriminator
        if d.batch_independent:
            sizes = [len(p) for p in parts]
            logits, _ = d(torch.cat(list(parts)), segments=sizes, **kwargs)
            return list(logits.split(sizes))
        return [d(p, **kwargs)[0] for p in parts]

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o = self.config.optim
        self.apply_lr(step)
        g, d = self.generator, self.discriminator
        out: dict[str, torch.Tensor] = {}

        with self._autocast():
            with torch.no_grad():
                fake = g(g.sample_z(o.batch_size))
            parts = [self.data.real(step), fake]
            if self.labelled:
                x_lab, y_lab = self.data.labelled_batch(step)
                parts.insert(0, x_lab)
            logits = self._logits(parts)
            loss_unl = discriminator_loss(realness(logits[-2]).float(), realness(logits[-1]).float(), self.alpha)
            loss_d = o.unlabeled_weight * loss_unl
            if self.labelled:
                loss_lab = supervised_loss(logits[0].float(), y_lab)
                loss_d = loss_d + loss_lab
                out["loss_lab"] = loss_lab.detach()
                out["train_error"] = (logits[0].argmax(1) != y_lab).float().mean()
            if self.ha_d is not None:
                loss_d = loss_d + self.config.techniques.ha_weight * self.ha_d.penalty()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if self.average_before_step:
            self.d_average.update(d)
        self.opt_d.step()
        if not self.average_before_step:
            self.d_average.update(d)
        if self.ha_d is not None:
            self.ha_d.update()
        out["loss_unl"] = loss_unl.detach()
        out["loss_d"] = loss_d.detach()

        with frozen(d):  # G's step needs gradients through D, not for D
            for k in range(o.g_steps):
                out["loss_g"] = self._generator_step(step * o.g_steps + k)
        return out

    def _generator_step(self, position: int) -> torch.Tensor:
        g, d = self.generator, self.discriminator
        with self._autocast():
            fake = g(g.sample_z(self.config.optim.batch_size))
            if self.feature_layer is not None:
                with torch.no_grad():
                    _, real_features = d(self.data.real(position, GENERATOR_REAL), feature_layer=self.feature_layer)
                _, fake_features = d(fake, feature_layer=self.feature_layer)
                loss = feature_matching_loss(
                    real_features.float(), fake_features.float(), self.config.techniques.feature_distance
                )
            elif self.config.techniques.generator_loss == "minimax":
                loss = minimax_generator_loss(realness(d(fake)[0]).float())
            else:
                loss = generator_loss(realness(d(fake)[0]).float())
            if self.ha_g is not None:
                loss = loss + self.config.techniques.ha_weight * self.ha_g.penalty()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        if self.ha_g is not None:
            self.ha_g.update()
        return loss.detach()

    def evaluate(self) -> dict[str, float]:
        return evaluate_classifier(self) if self.labelled else {}


@torch.no_grad()
def evaluate_classifier(recipe: Recipe) -> dict[str, float]:
    """Test error of the K-class classifier in ``recipe.discriminator``, with its parameter average
    (``recipe.d_average``), as the paper reports it."""
    test = recipe.data.test
    n = recipe.config.run.eval_examples or len(test)
    model = copy.deepcopy(recipe.discriminator)
    model.load_state_dict(recipe.d_average.averaged(), strict=False)
    model.eval()
    batch = recipe.config.optim.batch_size
    wrong = 0
    for start in range(0, n, batch):
        images = test.images[start : min(start + batch, n)].to(recipe.device)
        logits, _ = model(recipe.data.to_model(images))
        wrong += int((logits.argmax(1).cpu() != test.labels[start : start + len(images)]).sum())
    return {"test_error": wrong / n}
