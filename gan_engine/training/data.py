"""The training data as a recipe sees it: batches by position, in the model's range, on the device."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from gan_engine.config import TrainConfig
from gan_engine.data import ImageDataset, labelled_subset, load_dataset
from gan_engine.registry import ARCHITECTURES
from gan_engine.training.batches import Stream

# Stream ids: D's unlabelled batches, G's real batches (feature matching), labelled batches. The
# paper's code draws D's and G's real batches from two independent shuffles of the data.
UNLABELLED, GENERATOR_REAL, LABELLED = 0, 1, 2


def to_model_range(images: torch.Tensor, data_range: str) -> torch.Tensor:
    x = images.float()
    # The paper's conv code scales CIFAR as (x - 127.5) / 128; its MNIST code feeds [0, 1].
    return x / 255.0 if data_range == "unit" else (x - 127.5) / 128.0


def to_uint8(images: torch.Tensor, data_range: str) -> torch.Tensor:
    x = images.float()
    x = x * 255.0 if data_range == "unit" else x * 128.0 + 127.5
    return x.round().clamp(0, 255).to(torch.uint8)


@dataclass
class TrainingData:
    config: TrainConfig
    train: ImageDataset
    labelled: torch.Tensor  # indices into train
    device: torch.device

    @classmethod
    def load(cls, config: TrainConfig, device: torch.device, labelled: torch.Tensor | None = None) -> TrainingData:
        train = load_dataset(config.data, "train")
        if labelled is None:
            labelled = labelled_subset(train.labels, config.data.labels, len(train.classes), config.data.label_seed)
        return cls(config, train, labelled, device)

    @property
    def data_range(self) -> str:
        return ARCHITECTURES.get(self.config.model.architecture).data_range

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)

    @cached_property
    def _images(self) -> torch.Tensor:
        # uint8 on the device once: a batch is then an index and a cast, with no host copy.
        return self.train.images.to(self.device)

    @cached_property
    def _labels(self) -> torch.Tensor:
        return self.train.labels.to(self.device)

    @cached_property
    def _streams(self) -> dict[int, Stream]:
        everything = torch.arange(len(self.train))
        seed = self.config.run.seed
        streams = {UNLABELLED: Stream(everything, seed, UNLABELLED), GENERATOR_REAL: Stream(everything, seed, 1)}
        if len(self.labelled):
            streams[LABELLED] = Stream(self.labelled, seed, LABELLED)
        return streams

    def to_model(self, images: torch.Tensor) -> torch.Tensor:
        return to_model_range(images, self.data_range)

    def real(self, position: int, stream: int = UNLABELLED, size: int | None = None) -> torch.Tensor:
        idx = self._streams[stream].take(position, size or self.config.optim.batch_size).to(self.device)
        return self.to_model(self._images[idx])

    def labelled_batch(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._streams[LABELLED].take(position, self.config.optim.batch_size).to(self.device)
        return self.to_model(self._images[idx]), self._labels[idx]

    def init_batch(self) -> torch.Tensor:
        """Examples for data-dependent initialisation (the code uses 500 training images)."""
        return self.real(0, UNLABELLED, size=self.config.run.init_examples)

    @cached_property
    def test(self) -> ImageDataset:
        return load_dataset(self.config.data, "test")
