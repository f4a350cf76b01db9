"""Fashion-MNIST from its four IDX files, found locally; this loader never downloads.

Debian's ``dataset-fashion-mnist`` package installs the files in ``/usr/share/datasets/fashion-mnist``,
which makes that the dependable place on the lab's machines; ``GAN_DATA_DIR`` or ``data_dir`` point
elsewhere.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from gan_engine.data.base import ImageDataset, check_split
from gan_engine.data.cache import FilesKey, files_key, frozen
from gan_engine.data.idx import read_idx_pair
from gan_engine.errors import DatasetError

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def search_dirs(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The folders looked in, in order. An explicit ``data_dir`` is the only place looked; otherwise
    ``GAN_DATA_DIR`` comes before the system copy, which still serves when that folder lacks Fashion-MNIST."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        return [root, root / "fashion-mnist"]
    dirs = []
    if env := os.environ.get("GAN_DATA_DIR"):
        root = Path(env).expanduser()
        dirs += [root / "fashion-mnist", root]
    return [*dirs, SYSTEM_DIR]


def _find(folder: Path, name: str) -> Path | None:
    # The unpacked name too: torchvision's FashionMNIST leaves the files unpacked beside the archives.
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_files(split: str, data_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    dirs = search_dirs(data_dir)
    for folder in dirs:
        found = [_find(folder, name) for name in FILES[split]]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    raise DatasetError(
        f"Fashion-MNIST {split} split not found: expected {' and '.join(FILES[split])} in one of "
        f"{', '.join(map(str, dirs))}. Install them with `apt-get install dataset-fashion-mnist`, or set "
        f"GAN_DATA_DIR (or data.data_dir) to a folder holding the four IDX files."
    )


@functools.lru_cache(maxsize=4)
def _decode(images_path: Path, labels_path: Path, key: FilesKey) -> tuple[np.ndarray, ...]:
    # ``key`` is only part of the cache key: it changes when either file does.
    return frozen(*read_idx_pair(images_path, labels_path))


def load(split: str, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None) -> ImageDataset:
    """Load a split as (N, 1, 28, 28) uint8. ``image_size`` is for ``load_dataset`` to apply."""
    check_split(split)
    images_path, labels_path = find_files(split, data_dir)
    images, labels = _decode(images_path, labels_path, files_key([images_path, labels_path]))
    if labels.size and labels.max() >= len(CLASSES):
        raise DatasetError(f"{labels_path} holds label {labels.max()}; Fashion-MNIST has {len(CLASSES)} classes")
    return ImageDataset.from_arrays(images[:, None], labels, CLASSES, "fashion_mnist")
