"""Tests of gan_engine.data: the loaders on real and on fake local files, the labelled subset and resizing."""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets
from PIL import Image
from scipy.io import savemat
from sklearn.datasets import load_digits

from gan_engine.config import DataConfig
from gan_engine.data import (
    ImageDataset,
    digits,
    fashion_mnist,
    image_folder,
    labelled_subset,
    load_dataset,
    resize_images,
    torchvision_sets,
)
from gan_engine.errors import DatasetError

FASHION_FILES = [name for pair in fashion_mnist.FILES.values() for name in pair]


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def fake_fashion(folder: Path, n_train: int = 7, n_test: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny Fashion-MNIST in its own file names; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images_name, labels_name = fashion_mnist.FILES[split]
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / images_name, arrays[f"{split}_images"])
        write_idx(folder / labels_name, arrays[f"{split}_labels"])
    return arrays


@pytest.fixture
def no_gan_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)


# Fashion-MNIST


@pytest.mark.skipif(
    not all((fashion_mnist.SYSTEM_DIR / n).is_file() for n in FASHION_FILES),
    reason="Debian's dataset-fashion-mnist is not installed",
)
@pytest.mark.usefixtures("no_gan_data_dir")
def test_fashion_mnist_loads_the_installed_files() -> None:
    train, test = fashion_mnist.load("train"), fashion_mnist.load("test")
    for ds, n in ((train, 60000), (test, 10000)):
        assert ds.images.shape == (n, 1, 28, 28) and len(ds) == n
        assert ds.images.dtype == torch.uint8 and ds.images.is_contiguous()
        assert ds.labels.dtype == torch.int64
        assert torch.equal(ds.labels.unique(), torch.arange(10))
        assert ds.images.max() == 255 and ds.images.min() == 0
    assert train.classes == fashion_mnist.CLASSES and len(train.classes) == 10
    assert train.name == "fashion_mnist"

    # The loader caches decoded files; a caller editing its tensors must not change what the next caller gets.
    before = train.images[0].clone()
    train.images.zero_()
    assert torch.equal(fashion_mnist.load("train").images[0], before)


@pytest.mark.parametrize("subdir", ["fashion-mnist", ""])
def test_gan_data_dir_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subdir: str) -> None:
    arrays = fake_fashion(tmp_path / subdir if subdir else tmp_path)
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path))
    for split in ("train", "test"):
        ds = fashion_mnist.load(split)
        assert torch.equal(ds.images, torch.from_numpy(arrays[f"{split}_images"][:, None]))
        assert torch.equal(ds.labels, torch.from_numpy(arrays[f"{split}_labels"].astype(np.int64)))


def test_data_dir_accepts_unpacked_files_and_rereads_replaced_ones(tmp_path: Path, no_gan_data_dir: None) -> None:
    arrays = fake_fashion(tmp_path, n_train=5)
    for name in fashion_mnist.FILES["train"]:
        packed = tmp_path / name
        packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    assert torch.equal(fashion_mnist.load("train", tmp_path).images[:, 0], torch.from_numpy(arrays["train_images"]))

    fake_fashion(tmp_path, n_train=9, seed=1)  # the .gz files now come first, and differ
    assert len(fashion_mnist.load("train", tmp_path)) == 9


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # a download cut short: the gzip stream ends early
        lambda raw: gzip.compress(gzip.decompress(raw)[:-100]),  # fewer pixels than the header says
        lambda raw: gzip.compress(gzip.decompress(raw) + bytes(784)),  # more pixels than the header says
        lambda raw: gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(raw)[4:]),  # a labels magic number
    ],
    ids=["truncated-gzip", "short-data", "long-data", "wrong-magic"],
)
def test_damaged_idx_file_is_named(tmp_path: Path, damage: Callable[[bytes], bytes], no_gan_data_dir: None) -> None:
    fake_fashion(tmp_path)
    images = tmp_path / fashion_mnist.FILES["train"][0]
    images.write_bytes(damage(images.read_bytes()))
    with pytest.raises(DatasetError, match=re.escape(str(images))):
        fashion_mnist.load("train", tmp_path)
    assert len(fashion_mnist.load("test", tmp_path)) == 3  # the other split's files are untouched


def test_labels_and_images_counts_must_agree(tmp_path: Path) -> None:
    fake_fashion(tmp_path)
    write_idx(tmp_path / fashion_mnist.FILES["train"][1], np.zeros(6, np.uint8))
    with pytest.raises(DatasetError, match=r"7 images .* 6 labels"):
        fashion_mnist.load("train", tmp_path)


def test_missing_files_name_files_and_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")
    with pytest.raises(DatasetError) as err:
        fashion_mnist.load("test")
    message = str(err.value)
    for expected in [
        *fashion_mnist.FILES["test"],
        str(tmp_path / "data" / "fashion-mnist"),
        str(tmp_path / "data"),
        str(tmp_path / "system"),
        "apt-get install dataset-fashion-mnist",
        "GAN_DATA_DIR",
    ]:
        assert expected in message

    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "given"))):
        fashion_mnist.load("train", data_dir=tmp_path / "given")


def test_gan_data_dir_without_fashion_mnist_falls_back_to_system_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_fashion(tmp_path / "system", n_test=4)
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "other"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")
    assert len(fashion_mnist.load("test")) == 4


# labelled_subset


@pytest.fixture
def labels() -> torch.Tensor:
    rng = np.random.default_rng(3)
    return torch.from_numpy(rng.integers(0, 4, 400)).to(torch.int64)


def test_labelled_subset_is_balanced_and_follows_the_seeded_permutation(labels: torch.Tensor) -> None:
    chosen = labelled_subset(labels, 40, 4, seed=5)
    assert chosen.dtype == torch.int64 and len(chosen) == 40 and len(chosen.unique()) == 40
    assert torch.equal(torch.bincount(labels[chosen], minlength=4), torch.full((4,), 10))
    # Grouped by class in order, each group the first ten of its class in the paper's permutation.
    order = np.random.RandomState(5).permutation(len(labels))
    for c in range(4):
        group = chosen[10 * c : 10 * (c + 1)].numpy()
        assert list(group) == [i for i in order if labels[i] == c][:10]


def test_labelled_subset_seed(labels: torch.Tensor) -> None:
    first = labelled_subset(labels, 20, 4, seed=1)
    assert torch.equal(first, labelled_subset(labels, 20, 4, seed=1))
    assert not torch.equal(first, labelled_subset(labels, 20, 4, seed=2))


def test_labelled_subset_all_and_none(labels: torch.Tensor) -> None:
    partly = labels.clone()
    partly[::3] = -1
    everything = labelled_subset(partly, -1, 4, seed=0)
    assert torch.equal(everything, torch.nonzero(partly >= 0).flatten())
    assert everything.dtype == torch.int64
    none = labelled_subset(labels, 0, 4, seed=0)
    assert none.dtype == torch.int64 and len(none) == 0


def test_labelled_subset_errors(labels: torch.Tensor) -> None:
    with pytest.raises(DatasetError, match="multiple"):
        labelled_subset(labels, 42, 4, seed=0)
    with pytest.raises(DatasetError, match="-1"):
        labelled_subset(labels, -5, 4, seed=0)
    scarce = labels.clone()
    scarce[scarce == 2] = 0
    scarce[:3] = 2  # class 2 keeps only three examples
    with pytest.raises(DatasetError, match=r"class 2 \(bird\) has 3 examples"):
        labelled_subset(scarce, 20, 4, seed=0, classes=("cat", "dog", "bird", "fish"))
    assert len(labelled_subset(scarce, 12, 4, seed=0)) == 12  # three per class is still possible


# digits


def test_digits_split_and_shapes() -> None:
    train, test = digits.load("train"), digits.load("test")
    assert (len(train), len(test)) == (digits.NUM_TRAIN, 1797 - digits.NUM_TRAIN) == (1437, 360)
    for ds in (train, test):
        assert ds.images.shape[1:] == (1, 28, 28) and ds.images.dtype == torch.uint8
        assert torch.equal(ds.labels.unique(), torch.arange(10)) and ds.labels.dtype == torch.int64
        assert ds.images.max() == 255 and ds.images.min() == 0
    assert torch.equal(train.images, digits.load("train").images)  # the split is fixed
    # Between them the splits hold every digit once: compare against sklearn's own labels.
    counts = torch.bincount(torch.cat([train.labels, test.labels]), minlength=10)
    assert torch.equal(counts, torch.bincount(torch.from_numpy(load_digits().target), minlength=10))


# image_folder


def save(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (20, 12), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)


def test_image_folder_with_class_subfolders(tmp_path: Path) -> None:
    save(tmp_path / "red" / "a.png", (255, 0, 0))
    save(tmp_path / "red" / "nested" / "b.JPG", (250, 0, 0), size=(9, 40))
    save(tmp_path / "grey" / "c.bmp", (128, 128, 128), mode="L")
    (tmp_path / "grey" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()  # not a class: it holds no images
    ds = image_folder.load("train", tmp_path, image_size=8)
    assert ds.classes == ("grey", "red")
    assert ds.images.shape == (3, 3, 8, 8) and ds.images.dtype == torch.uint8
    assert ds.labels.tolist() == [0, 1, 1]
    means = ds.images.float().mean(dim=(2, 3))
    assert torch.allclose(means[0], torch.tensor([128.0] * 3), atol=2)  # greyscale became RGB
    assert (means[1:, 0] > 240).all() and (means[1:, 1:] < 10).all()
    assert torch.equal(image_folder.load("test", tmp_path, image_size=8).images, ds.images)


def test_image_folder_crops_to_the_centre_and_defaults_to_32(tmp_path: Path) -> None:
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, :10, 0] = wide[:, 10:20, 1] = wide[:, 20:, 2] = 255  # red | green | blue thirds
    Image.fromarray(wide).save(tmp_path / "wide.png")
    ds = image_folder.load("train", tmp_path)
    assert ds.images.shape == (1, 3, 32, 32)
    assert ds.labels.tolist() == [-1] and ds.classes == ()
    assert ds.images[0, 1].float().mean() > 250 and ds.images[0, [0, 2]].float().mean() < 5  # only green remains


def test_image_folder_train_and_test_folders(tmp_path: Path) -> None:
    save(tmp_path / "train" / "a" / "1.png", (0, 0, 0))
    save(tmp_path / "train" / "b" / "1.png", (255, 255, 255))
    save(tmp_path / "train" / "b" / "2.png", (255, 255, 255))
    save(tmp_path / "test" / "b" / "1.webp", (255, 255, 255))
    train = image_folder.load("train", tmp_path, image_size=4)
    test = image_folder.load("test", tmp_path, image_size=4)
    assert len(train) == 3 and len(test) == 1
    # The test folder lacks class a, yet its label still means class b of the training split.
    assert test.classes == train.classes == ("a", "b") and test.labels.tolist() == [1]

    save(tmp_path / "test" / "c" / "1.png", (0, 0, 0))
    with pytest.raises(DatasetError, match=r"classes that .* lacks: c$"):
        image_folder.load("test", tmp_path, image_size=4)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path))):
        image_folder.load("train", tmp_path)  # empty
    bad = tmp_path / "cls" / "broken.png"
    save(tmp_path / "cls" / "fine.png", (1, 2, 3))
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        image_folder.load("train", tmp_path)
    save(bad, (9, 9, 9), size=(64, 64))
    bad.write_bytes(bad.read_bytes()[:60])  # a valid header, the pixels cut off
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        image_folder.load("train", tmp_path)
    bad.unlink()
    save(tmp_path / "loose.png", (1, 2, 3))
    with pytest.raises(DatasetError, match=r"loose\.png"):
        image_folder.load("train", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        image_folder.load("train", tmp_path / "missing")


# torchvision sets on fake local files


def fake_mnist(root: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte.gz", labels)  # an archive left unpacked reads too
    return images, labels


def test_mnist_reads_torchvision_layout(tmp_path: Path) -> None:
    images, labels = fake_mnist(tmp_path, 6)
    ds = torchvision_sets.load_mnist("train", tmp_path)
    assert ds.images.shape == (6, 1, 28, 28) and ds.name == "mnist"
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert torch.equal(ds.labels, torch.from_numpy(labels.astype(np.int64)))


def test_cifar10_reads_pickled_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    written = []
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, 2).tolist()}
        written.append(batch)
        (folder / name).write_bytes(pickle.dumps(batch))
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path))  # root defaults to $GAN_DATA_DIR/cifar10
    train, test = torchvision_sets.load_cifar10("train"), torchvision_sets.load_cifar10("test")
    assert train.images.shape == (10, 3, 32, 32) and test.images.shape == (2, 3, 32, 32)
    # Row-major CHW, as the CIFAR files store each image: 1024 red, then green, then blue values.
    assert torch.equal(train.images[2, 1].flatten(), torch.from_numpy(written[1]["data"][0, 1024:2048]))
    assert train.labels.tolist() == list(chain.from_iterable(b["labels"] for b in written[:5]))
    assert train.classes[0] == "airplane" and len(train.classes) == 10


def test_svhn_reads_mat_files_and_relabels_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    y = np.array([[10], [1], [2], [10], [9]], dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    ds = torchvision_sets.load_svhn("test", tmp_path)
    assert ds.images.shape == (5, 3, 32, 32)
    assert ds.labels.tolist() == [0, 1, 2, 0, 9]
    assert torch.equal(ds.images[3, 2], torch.from_numpy(x[:, :, 2, 3]))  # SVHN's (H, W, C, N) -> (N, C, H, W)


@pytest.mark.parametrize(
    ("load", "cls", "expected"),
    [
        (torchvision_sets.load_mnist, torchvision.datasets.MNIST, "MNIST/raw/t10k-images-idx3-ubyte"),
        (torchvision_sets.load_cifar10, torchvision.datasets.CIFAR10, "cifar-10-batches-py/test_batch"),
        (torchvision_sets.load_svhn, torchvision.datasets.SVHN, "test_32x32.mat"),
    ],
    ids=["mnist", "cifar10", "svhn"],
)
def test_offline_missing_files_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: Callable[..., ImageDataset], cls: type, expected: str
) -> None:
    attempts = []

    def offline(self: object) -> None:
        attempts.append(self)
        raise URLError("network unreachable")

    monkeypatch.setattr(cls, "download", offline)
    with pytest.raises(DatasetError) as err:
        load("test", tmp_path)
    assert len(attempts) == 1  # it did try torchvision's download
    message = str(err.value)
    assert str(tmp_path / expected) in message and "network unreachable" in message


def test_corrupt_cifar_batch_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]})[:50])
    with pytest.raises(DatasetError, match=re.escape(str(folder / "test_batch"))):
        torchvision_sets.load_cifar10("test", tmp_path)


# load_dataset and resizing


def test_load_dataset_resizes_to_image_size() -> None:
    native = load_dataset(DataConfig(dataset="digits"), "test")
    small = load_dataset(DataConfig(dataset="digits", image_size=14), "test")
    assert small.images.shape == (len(native), 1, 14, 14) and small.images.dtype == torch.uint8
    assert small.images.is_contiguous() and torch.equal(small.labels, native.labels)
    # Averaging filters keep each image's mean brightness; dropping pixels would not, exactly.
    diff = small.images.float().mean(dim=(1, 2, 3)) - native.images.float().mean(dim=(1, 2, 3))
    assert diff.abs().max() < 3
    assert torch.equal(load_dataset(DataConfig(dataset="digits", image_size=28), "test").images, native.images)


def test_load_dataset_passes_data_dir_and_size_to_image_folder(tmp_path: Path) -> None:
    save(tmp_path / "x.png", (10, 20, 30), size=(50, 50))
    ds = load_dataset(DataConfig(dataset="image_folder", data_dir=str(tmp_path), image_size=16), "train")
    assert ds.images.shape == (1, 3, 16, 16)
    assert ds.images[0, :, 0, 0].tolist() == [10, 20, 30]


def test_load_dataset_rejects_unknown_names_and_splits() -> None:
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset(DataConfig(dataset="nope"), "train")
    with pytest.raises(ValueError, match="split"):
        load_dataset(DataConfig(dataset="digits"), "validation")


def test_resize_images_keeps_flat_images_flat_and_ramps_rising() -> None:
    flat = torch.full((3, 2, 10, 10), 77, dtype=torch.uint8)
    assert torch.equal(resize_images(flat, 4), torch.full((3, 2, 4, 4), 77, dtype=torch.uint8))
    ramp = torch.arange(16, dtype=torch.uint8).repeat(16, 1)[None, None] * 16
    down = resize_images(ramp, 4)
    assert (down[0, 0, :, 1:] >= down[0, 0, :, :-1]).all() and down[0, 0, 0, 0] < down[0, 0, 0, -1]


def test_image_dataset_rejects_wrong_dtypes() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64), (), "x")
    with pytest.raises(ValueError, match="int64"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), (), "x")
