"""Conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets").

G and D both receive the class y: G(z, y), D(x, y) (``models.conditional``). Losses
(``objectives.adversarial``): D minimises the log loss on (real x, its label) against (G(z, y), y);
G minimises the non-saturating -log D(G(z, y), y). y for generated images is drawn uniformly over
the classes (from z's first slot, so sampling needs z alone); real batches carry their own labels
from every training example (stream 13). Defaults: the conditional DCGAN pair, z_dim 101 (100 noise
dims and the class slot; the paper's MNIST G has 100), Adam lr 2e-4 and beta1 = 0.5 (DCGAN's; the
paper's SGD with momentum suits its MLPs), batch 64.
``code_grids.write_code_grids`` draws one row per class from shared noise: what the class alone changes.
"""

from __future__ import annotations

import torch

from gan_engine.config import TrainConfig
from gan_engine.errors import ConfigError
from gan_engine.nn import frozen
from gan_engine.objectives.adversarial import discriminator_loss, generator_loss
from gan_engine.recipes.base import TwoPlayerRecipe
from gan_engine.training.batches import Stream
from gan_engine.training.data import TrainingData

STREAM_LABELLED_ALL = 13


class CGAN(TwoPlayerRecipe):
    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device)
        g = self.generator
        if g.categories != data.num_classes:
            raise ConfigError({"gans.cgan_classes": f"the data has {data.num_classes} classes, not {g.categories}"})
        labelled = torch.nonzero(data.train.labels >= 0).flatten()
        if len(labelled) == 0:
            raise ConfigError({"data.dataset": "cgan needs labelled images (class folders for image_folder)"})
        self.stream = Stream(labelled, config.run.seed, STREAM_LABELLED_ALL)
        self.images, self.labels = data.train.images.to(device), data.train.labels.to(device)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o = self.config.optim
        self.apply_lr(step)
        g, d = self.generator, self.discriminator

        index = self.stream.take(step, o.batch_size).to(self.device)
        real, labels = self.data.to_model(self.images[index]), self.labels[index]
        z = g.sample_z(o.batch_size)
        with torch.no_grad():
            fake = g(z)
        loss_d = discriminator_loss(d(real, labels), d(fake, g.category(z)))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        with frozen(d):
            z = g.sample_z(o.batch_size)
            loss_g = generator_loss(d(g(z), g.category(z)))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
