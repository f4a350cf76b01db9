"""Progressive growing of GANs (Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs
for Improved Quality, Stability, and Variation").

Training starts at 4x4 and doubles the resolution up to the dataset's (data.image_size, 32 for
Fashion-MNIST by default). Each new resolution first fades in, alpha rising linearly from 0 to 1
over a phase, then trains stably for a phase; real images are downsampled to the current resolution
and, while fading, blended the same way (alpha * x + (1 - alpha) * upsampled(downsampled(x))).
A phase is ``gans.progan_phase_steps`` steps; 0 splits the run evenly over the 2L - 1 phases of L
resolutions (so a run resumed with more ``optim.steps`` would regrow on a new schedule: set the
phase length when a run may be extended). The networks (``models.progan_nets``) use pixel norm,
the equalized learning rate and the minibatch standard deviation.

Loss (``objectives.wasserstein``): WGAN-GP with lambda = 10 plus the drift term
epsilon * mean D(x)^2, epsilon = 0.001. Defaults, as the paper: n_critic = 1, Adam lr 1e-3 with
beta1 = 0 and beta2 = 0.99. Progress shows the current ``resolution`` and ``alpha`` each step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gan_engine.config import TrainConfig
from gan_engine.models.progan_nets import downsample, stages_for
from gan_engine.nn import frozen
from gan_engine.objectives.wasserstein import critic_loss, drift_penalty, generator_loss, gradient_penalty
from gan_engine.recipes.base import TwoPlayerRecipe
from gan_engine.training.data import TrainingData


def schedule(step: int, phase_steps: int, stages: int) -> tuple[int, float]:
    """(stage, alpha) at ``step``: phase 0 trains 4x4; phase 2i - 1 fades stage i in, phase 2i holds it."""
    phase, within = divmod(step, phase_steps)
    stage = (phase + 1) // 2
    if stage >= stages:
        return stages - 1, 1.0
    if phase % 2 == 1:
        return stage, within / phase_steps
    return stage, 1.0


class ProGAN(TwoPlayerRecipe):
    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device)
        self.stages = stages_for(data.shape[1])
        phases = 2 * self.stages - 1
        self.phase_steps = config.gans.progan_phase_steps or max(1, math.ceil(config.optim.steps / phases))

    def _real(self, position: int, stage: int, alpha: float) -> torch.Tensor:
        real = downsample(self.data.real(position), 4 * 2**stage)
        if stage > 0 and alpha < 1:
            coarse = F.interpolate(F.avg_pool2d(real, 2), scale_factor=2, mode="nearest")
            real = torch.lerp(coarse, real, alpha)
        return real

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        o, gans = self.config.optim, self.config.gans
        self.apply_lr(step)
        stage, alpha = schedule(step, self.phase_steps, self.stages)
        g, d = self.generator.net, self.discriminator
        g.grow(stage, alpha)
        d.grow(stage, alpha)

        n = gans.n_critic
        for k in range(n):
            real = self._real(step * n + k, stage, alpha)
            with torch.no_grad():
                fake = g.forward_native(self.generator.sample_z(o.batch_size))
            real_scores = d(real)
            distance = critic_loss(real_scores, d(fake))
            penalty = gradient_penalty(d, real, fake, gans.gp_weight)
            loss_d = distance + penalty + drift_penalty(real_scores, gans.progan_drift)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()

        with frozen(d):
            loss_g = generator_loss(d(g.forward_native(self.generator.sample_z(o.batch_size))))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "wasserstein": -distance.detach(),
            "gradient_penalty": penalty.detach(),
            "resolution": torch.tensor(float(4 * 2**stage)),
            "alpha": torch.tensor(alpha),
        }
