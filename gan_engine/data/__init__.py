"""Datasets as in-memory uint8 tensors, loaded by registry name.

``load_dataset`` is the entry point: it finds the dataset's loader in ``gan_engine.registry.DATASETS`` and
applies the configured image size, so the loaders themselves only decode their files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gan_engine.data.base import ImageDataset, check_split
from gan_engine.data.labelled import labelled_subset
from gan_engine.data.resize import resize_images
from gan_engine.errors import DatasetError
from gan_engine.registry import DATASETS, resolve

if TYPE_CHECKING:
    from gan_engine.config import DataConfig

__all__ = ["ImageDataset", "labelled_subset", "load_dataset", "resize_images"]


def load_dataset(config: DataConfig, split: str) -> ImageDataset:
    """Load ``split`` ("train" or "test") of ``config.dataset``, resized to ``config.image_size`` when set."""
    check_split(split)
    if config.dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {config.dataset!r}; choose one of {', '.join(DATASETS.names())}")
    loader = resolve(DATASETS.get(config.dataset).loader)
    dataset = loader(split=split, data_dir=config.data_dir, image_size=config.image_size)
    if config.image_size is None or dataset.images.shape[-2:] == (config.image_size, config.image_size):
        return dataset
    return ImageDataset(resize_images(dataset.images, config.image_size), dataset.labels, dataset.classes, dataset.name)
