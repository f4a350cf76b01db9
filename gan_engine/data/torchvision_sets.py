"""MNIST, CIFAR-10 and SVHN in torchvision's on-disk layout, downloaded by torchvision when missing.

The files are decoded here rather than through torchvision's dataset classes: those check an MD5 of every
file on each load and turn any mismatch into "not found"; decoding here gives errors that name the file.
Torchvision is used for what it does well, fetching and unpacking the archives, and only when a file is
missing. Offline, that fails, and the error names every file expected and the folder it belongs in.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_engine.data.base import ImageDataset, check_split
from gan_engine.data.cache import FilesKey, files_key, frozen
from gan_engine.data.idx import read_idx_pair
from gan_engine.errors import DatasetError

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Source:
    name: str  # registry name, and the folder under GAN_DATA_DIR
    title: str
    classes: tuple[str, ...]
    files: Callable[[Path, str], list[Path]]  # (root, split) -> the files torchvision leaves there
    decode: Callable[[list[Path]], Arrays]  # files -> (N, C, H, W) uint8 images, (N,) labels
    fetch: Callable[[Path, str], object]  # (root, split) -> download through torchvision


def default_root(name: str, data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if env := os.environ.get("GAN_DATA_DIR"):
        return Path(env).expanduser() / name
    return Path.home() / ".cache" / "gan_engine" / name


def _mnist_files(root: Path, split: str) -> list[Path]:
    prefix = "train" if split == "train" else "t10k"
    raw = root / "MNIST" / "raw"
    paths = []
    for name in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
        # Torchvision unpacks the archives beside themselves; an archive alone reads just as well.
        packed = raw / f"{name}.gz"
        paths.append(packed if packed.is_file() and not (raw / name).is_file() else raw / name)
    return paths


def _mnist_decode(paths: list[Path]) -> Arrays:
    images, labels = read_idx_pair(paths[0], paths[1])
    return images[:, None], labels


def _mnist_fetch(root: Path, split: str) -> object:
    from torchvision.datasets import MNIST

    return MNIST(str(root), train=split == "train", download=True)


def _cifar_files(root: Path, split: str) -> list[Path]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return [root / "cifar-10-batches-py" / n for n in names]


def _cifar_decode(paths: list[Path]) -> Arrays:
    images, labels = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                # latin1: the batches are Python 2 pickles, as torchvision reads them.
                batch = pickle.load(f, encoding="latin1")
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            targets = np.asarray(batch["labels"], dtype=np.int64)
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
            raise DatasetError(
                f"cannot read CIFAR-10 batch {path}: {exc!r} (corrupt or truncated; fetch it again)"
            ) from None
        if len(targets) != len(data):
            raise DatasetError(f"{path} holds {len(data)} images but {len(targets)} labels")
        images.append(data)
        labels.append(targets)
    return np.concatenate(images), np.concatenate(labels)


def _cifar_fetch(root: Path, split: str) -> object:
    from torchvision.datasets import CIFAR10

    return CIFAR10(str(root), train=split == "train", download=True)


def _svhn_files(root: Path, split: str) -> list[Path]:
    return [root / f"{split}_32x32.mat"]


def _svhn_decode(paths: list[Path]) -> Arrays:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(str(paths[0]))
        images = np.transpose(np.asarray(mat["X"], dtype=np.uint8), (3, 2, 0, 1))  # (H, W, C, N) -> (N, C, H, W)
        labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    except (OSError, ValueError, KeyError, TypeError, MatReadError) as exc:
        raise DatasetError(
            f"cannot read SVHN file {paths[0]}: {exc!r} (corrupt or truncated; fetch it again)"
        ) from None
    if len(labels) != len(images):
        raise DatasetError(f"{paths[0]} holds {len(images)} images but {len(labels)} labels")
    # SVHN's own files label the digit 0 as 10.
    return images, np.where(labels == 10, 0, labels)


def _svhn_fetch(root: Path, split: str) -> object:
    from torchvision.datasets import SVHN

    return SVHN(str(root), split=split, download=True)


DIGITS = tuple(str(i) for i in range(10))
MNIST_SOURCE = Source("mnist", "MNIST", DIGITS, _mnist_files, _mnist_decode, _mnist_fetch)
CIFAR10_SOURCE = Source(
    "cifar10",
    "CIFAR-10",
    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    _cifar_files,
    _cifar_decode,
    _cifar_fetch,
)
SVHN_SOURCE = Source("svhn", "SVHN", DIGITS, _svhn_files, _svhn_decode, _svhn_fetch)


@functools.lru_cache(maxsize=4)
def _decode(decode: Callable[[list[Path]], Arrays], paths: tuple[Path, ...], key: FilesKey) -> tuple[np.ndarray, ...]:
    # ``key`` is only part of the cache key: it changes when any of the files does.
    return frozen(*decode(list(paths)))


def _not_found(source: Source, split: str, root: Path, paths: list[Path], reason: str) -> DatasetError:
    missing = [str(p) for p in paths if not p.is_file()]
    return DatasetError(
        f"{source.title} {split} split not found in {root}: expected {', '.join(missing)}; downloading them "
        f"failed ({reason}). Put torchvision's {source.title} files there, or set data.data_dir, or GAN_DATA_DIR "
        f"to a folder holding {source.name}/."
    )


def load_source(source: Source, split: str, data_dir: str | os.PathLike[str] | None) -> ImageDataset:
    check_split(split)
    root = default_root(source.name, data_dir)
    paths = source.files(root, split)
    if not all(p.is_file() for p in paths):
        try:
            source.fetch(root, split)
        except Exception as exc:  # offline, a proxy, a full disk, a bad archive: all mean "not there"
            text = str(exc).strip()
            raise _not_found(source, split, root, paths, text.splitlines()[0] if text else type(exc).__name__) from exc
        paths = source.files(root, split)
        if not all(p.is_file() for p in paths):
            raise _not_found(source, split, root, paths, "the download did not produce them")
    images, labels = _decode(source.decode, tuple(paths), files_key(paths))
    if labels.size and (labels.min() < 0 or labels.max() >= len(source.classes)):
        raise DatasetError(f"{source.title} files in {root} hold labels outside 0..{len(source.classes) - 1}")
    return ImageDataset.from_arrays(images, labels, source.classes, source.name)


def load_mnist(
    split: str, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None
) -> ImageDataset:
    """MNIST as (N, 1, 28, 28) uint8. ``image_size`` is for ``load_dataset`` to apply."""
    return load_source(MNIST_SOURCE, split, data_dir)


def load_cifar10(
    split: str, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None
) -> ImageDataset:
    """CIFAR-10 as (N, 3, 32, 32) uint8. ``image_size`` is for ``load_dataset`` to apply."""
    return load_source(CIFAR10_SOURCE, split, data_dir)


def load_svhn(
    split: str, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None
) -> ImageDataset:
    """SVHN (without the extra split) as (N, 3, 32, 32) uint8. ``image_size`` is for ``load_dataset`` to apply."""
    return load_source(SVHN_SOURCE, split, data_dir)
