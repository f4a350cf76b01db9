"""Generating images from a checkpoint.

Each image i of a request comes from the latent drawn with seed ``seed + i``, so any image can be
regenerated alone from its recorded seed. With virtual batch norm that seed is the whole story; with
batch norm an image also depends on its batch-mates, so the batch size is recorded beside the seeds.

Every batch goes through the generator full-sized, whatever ``n`` is: a last batch of n % batch images
is padded with the latents of the seeds that follow and the extra images dropped. Batch norm here always
normalises with the batch's own statistics, so a batch of one image would come out the same for every z,
and a short last batch would draw its images from a different distribution than the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gan_engine.config import TrainConfig
from gan_engine.errors import CheckpointError, ConfigError
from gan_engine.models import Generator, build_models
from gan_engine.nn.normalization import BatchNorm
from gan_engine.registry import ARCHITECTURES
from gan_engine.training.checkpoint import load_checkpoint
from gan_engine.training.data import to_uint8
from gan_engine.training.loop import resolve_device


@dataclass
class LoadedGenerator:
    generator: Generator
    config: TrainConfig
    step: int
    path: Path

    @property
    def data_range(self) -> str:
        return ARCHITECTURES.get(self.config.model.architecture).data_range


def load_generator(checkpoint: str | Path, device: str = "auto") -> LoadedGenerator:
    state = load_checkpoint(checkpoint)
    config = state["config"]
    generator, _ = build_models(config, tuple(state["image_shape"]), d_outputs=1)
    try:
        generator.load_state_dict(state["recipe"]["generator"], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{checkpoint}: its generator does not fit its config: {exc}") from None
    generator = generator.to(resolve_device(device)).eval()
    return LoadedGenerator(generator, config, int(state["step"]), Path(checkpoint))


def latents(z_dim: int, seeds: range | list[int]) -> torch.Tensor:
    return torch.stack([torch.rand(z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])


@torch.no_grad()
def generate(loaded: LoadedGenerator, n: int, seed: int = 0, batch_size: int | None = None) -> torch.Tensor:
    """``n`` images as uint8 (N, C, H, W) on the CPU; image i from latent seed ``seed + i``, generated in
    the batch of seeds ``seed + b * batch_size`` onwards (b = i // batch_size), always ``batch_size`` long."""
    g = loaded.generator
    batch_size = batch_size or loaded.config.optim.batch_size
    if batch_size < 2 and uses_batch_statistics(g):
        raise ConfigError({"batch_size": "a batch-norm generator needs batches of at least 2 images"})
    device = next(g.parameters()).device
    out = []
    for start in range(0, n, batch_size):
        z = latents(g.z_dim, range(seed + start, seed + start + batch_size)).to(device)
        out.append(to_uint8(g(z)[: n - start].cpu(), loaded.data_range))
    return torch.cat(out)


def uses_batch_statistics(generator: torch.nn.Module) -> bool:
    """Whether an image depends on its batch-mates (batch norm; virtual batch norm does not)."""
    return any(isinstance(m, BatchNorm) for m in generator.modules())
