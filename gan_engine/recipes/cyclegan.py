"""CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks").

Two domains are two class sets of one dataset (``gans.cyclegan_domain_a`` and ``_b``, indices or
names: Fashion-MNIST's sandals (5) and sneakers (7) by default), or two folders of images, as the
class subfolders of an image_folder dataset. G: A -> B ("generator", what sampling and grids use)
and F: B -> A, with discriminators D_B and D_A.

Losses (``objectives.cycle``): least-squares adversarial terms for both directions; cycle
consistency lambda * (|F(G(a)) - a| + |G(F(b)) - b|), lambda = 10; identity
0.5 * lambda * (|G(b) - b| + |F(a) - a|). Each discriminator sees fakes through an image pool of
the last 50 (``models.image_pool``). Defaults, as the paper: Adam lr 2e-4, beta1 = 0.5, batch 1,
constant lr for the first half of the run and a linear decay to 0 over the second.
One step: both generators' update, then both discriminators'. Batches of each domain come from their
own streams (ids 10 and 11), so resume is exact.

Sampling: the generator holds 256 domain-A images (stream 12); a latent picks one and the grid or
pool shows its translation. ``translate_folder`` translates a folder of images in either direction.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_engine.config import TrainConfig
from gan_engine.data.image_folder import EXTENSIONS, read_image
from gan_engine.errors import CheckpointError, ConfigError, DatasetError
from gan_engine.models import build_models
from gan_engine.models.cyclegan_nets import BANK
from gan_engine.models.image_pool import ImagePool
from gan_engine.nn import frozen
from gan_engine.objectives.cycle import cycle_loss, identity_loss, lsgan_discriminator_loss, lsgan_generator_loss
from gan_engine.recipes.base import Recipe
from gan_engine.specs.cyclegan import parse_domain
from gan_engine.training.batches import Stream
from gan_engine.training.data import TrainingData, to_model_range, to_uint8
from gan_engine.training.grid import save_png

STREAM_A, STREAM_B, STREAM_BANK = 10, 11, 12


def domain_labels(text: str, classes: tuple[str, ...], field: str) -> list[int]:
    """A domain's class indices from its ``"5,7"`` or ``"Sandal,Sneaker"`` text."""
    out = []
    for item in parse_domain(text):
        if item in classes:
            out.append(classes.index(item))
        elif item.lstrip("-").isdigit() and 0 <= int(item) < len(classes):
            out.append(int(item))
        else:
            known = ", ".join(f"{i}={name}" for i, name in enumerate(classes)) or "none: the images are unlabelled"
            raise ConfigError({field: f"no class {item!r} in this dataset; its classes are {known}"})
    return out


class CycleGAN(Recipe):
    def __init__(self, config: TrainConfig, data: TrainingData, device: torch.device):
        super().__init__(config, data, device)
        g, seed = config.gans, config.run.seed
        subsets = {}
        for name, text in (("a", g.cyclegan_domain_a), ("b", g.cyclegan_domain_b)):
            field = f"gans.cyclegan_domain_{name}"
            labels = torch.tensor(domain_labels(text, data.train.classes, field))
            index = torch.nonzero(torch.isin(data.train.labels, labels)).flatten()
            if len(index) == 0:
                raise ConfigError({field: f"domain {name.upper()} has no training images"})
            subsets[name] = index
        self.images_a = data.train.images[subsets["a"]].to(device)
        self.images_b = data.train.images[subsets["b"]].to(device)
        self.stream_a = Stream(torch.arange(len(subsets["a"])), seed, STREAM_A)
        self.stream_b = Stream(torch.arange(len(subsets["b"])), seed, STREAM_B)

        g_ab, d_b = build_models(config, data.shape, 1)
        g_ba, d_a = build_models(config, data.shape, 1)
        self.generator, self.generator_ba = g_ab.to(device), g_ba.to(device)
        self.discriminator, self.discriminator_a = d_b.to(device), d_a.to(device)
        bank = Stream(torch.arange(len(self.images_a)), seed, STREAM_BANK).take(0, BANK).to(device)
        self.generator.fill_bank(self.images_a[bank])
        bank_b = Stream(torch.arange(len(self.images_b)), seed, STREAM_BANK).take(0, BANK).to(device)
        self.generator_ba.fill_bank(self.images_b[bank_b])

        o = config.optim
        betas = (o.beta1, o.beta2)
        generators = itertools.chain(self.generator.parameters(), self.generator_ba.parameters())
        critics = itertools.chain(self.discriminator.parameters(), self.discriminator_a.parameters())
        self.opt_g = torch.optim.Adam(generators, lr=o.lr, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(critics, lr=o.lr, betas=betas, fused=True)
        self.pool_a = ImagePool(g.cyclegan_pool_size, data.shape).to(device)
        self.pool_b = ImagePool(g.cyclegan_pool_size, data.shape).to(device)

    def stateful(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "generator_ba": self.generator_ba,
            "discriminator": self.discriminator,
            "discriminator_a": self.discriminator_a,
            "opt_g": self.opt_g,
            "opt_d": self.opt_d,
            "pool_a": self.pool_a,
            "pool_b": self.pool_b,
        }

    def _batch(self, images: torch.Tensor, stream: Stream, step: int) -> torch.Tensor:
        index = stream.take(step, self.config.optim.batch_size).to(self.device)
        return self.data.to_model(images[index])

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        gans = self.config.gans
        lr = self.lr_at(step)
        self.set_lr(self.opt_d, lr)
        self.set_lr(self.opt_g, lr)
        g_ab, g_ba, d_b, d_a = self.generator, self.generator_ba, self.discriminator, self.discriminator_a
        real_a = self._batch(self.images_a, self.stream_a, step)
        real_b = self._batch(self.images_b, self.stream_b, step)
        lam = gans.cyclegan_cycle_weight
        lam_id = lam * gans.cyclegan_identity_weight

        with frozen(d_a), frozen(d_b):
            fake_b, fake_a = g_ab(real_a), g_ba(real_b)
            adversarial = lsgan_generator_loss(d_b(fake_b)) + lsgan_generator_loss(d_a(fake_a))
            cycle = cycle_loss(g_ba(fake_b), real_a, lam) + cycle_loss(g_ab(fake_a), real_b, lam)
            identity = real_a.new_zeros(())
            if lam_id:
                identity = identity_loss(g_ab(real_b), real_b, lam_id) + identity_loss(g_ba(real_a), real_a, lam_id)
            loss_g = adversarial + cycle + identity
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        old_b, old_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
        loss_d_b = lsgan_discriminator_loss(d_b(real_b), d_b(old_b))
        loss_d_a = lsgan_discriminator_loss(d_a(real_a), d_a(old_a))
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        return {
            "loss_g": loss_g.detach(),
            "loss_gan": adversarial.detach(),
            "loss_cycle": cycle.detach(),
            "loss_identity": identity.detach(),
            "loss_d_a": loss_d_a.detach(),
            "loss_d_b": loss_d_b.detach(),
        }


def _read(path: Path, size: int, channels: int) -> np.ndarray:
    rgb = read_image(path, size)  # (size, size, 3) uint8, centre-cropped
    if channels == 1:  # PIL's "L" conversion: ITU-R 601-2 luma
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.rint(luma)[None].clip(0, 255).astype(np.uint8)
    return rgb.transpose(2, 0, 1)


@torch.no_grad()
def translate_folder(
    checkpoint: str | Path,
    in_dir: str | Path,
    out_dir: str | Path,
    direction: str = "a2b",
    device: str = "auto",
    batch_size: int = 64,
) -> list[Path]:
    """Translate every image under ``in_dir`` with a CycleGAN checkpoint's generator for ``direction``
    ("a2b": G, "b2a": F), writing ``out_dir/<relative path>.png``; returns the written paths. Images
    are centre-cropped and resized to the model's size, and converted to its channel count."""
    from gan_engine.training.checkpoint import load_checkpoint
    from gan_engine.training.loop import resolve_device

    if direction not in ("a2b", "b2a"):
        raise ValueError(f"direction must be a2b or b2a, not {direction!r}")
    state = load_checkpoint(checkpoint)
    config = state["config"]
    if config.recipe != "cyclegan":
        raise CheckpointError(f"{checkpoint} was trained by recipe {config.recipe}, not cyclegan")
    shape = tuple(state["image_shape"])
    generator, _ = build_models(config, shape, 1)
    key = "generator" if direction == "a2b" else "generator_ba"
    try:
        generator.load_state_dict(state["recipe"][key], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{checkpoint}: its {key} does not fit its config: {exc}") from None
    target = resolve_device(device)
    generator = generator.to(target).eval()

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise DatasetError(f"{in_dir} is not a folder of images")
    files = sorted(p for p in in_dir.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not files:
        raise DatasetError(f"no images ({', '.join(sorted(EXTENSIONS))}) found under {in_dir}")
    written = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        images = torch.from_numpy(np.stack([_read(p, shape[1], shape[0]) for p in chunk]))
        out = to_uint8(generator(to_model_range(images, "symmetric").to(target)).cpu(), "symmetric")
        for path, image in zip(chunk, out):
            dest = (out_dir / path.relative_to(in_dir)).with_suffix(".png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            save_png(image, dest)
            written.append(dest)
    return written
