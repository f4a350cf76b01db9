"""Any folder of images as a dataset: a researcher's own pictures, with labels when they are sorted into folders.

``root/<class>/**/*.png`` gives labelled classes (sorted by name); a folder of images alone gives unlabelled
data (label -1). A folder holding ``train/`` and ``test/`` is split by them; otherwise both splits are the
whole folder, which suits sample-quality work, where there is no test error to measure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from gan_engine.data.base import ImageDataset, check_split
from gan_engine.errors import DatasetError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
DEFAULT_SIZE = 32


def _images_under(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_folder(root: Path, split: str) -> Path:
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root / split
    return root


def read_image(path: Path, size: int) -> np.ndarray:
    """Decode an image as RGB, centre-crop it to a square and resize it: (size, size, 3) uint8."""
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")  # also forces the decode, so a truncated file fails here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # PIL raises all of these
        raise DatasetError(f"cannot read image {path}: {exc}") from None
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    # Cropping first keeps the aspect ratio; PIL's bilinear filter widens with the scale, so shrinking is antialiased.
    square = rgb.crop((left, top, left + side, top + side))
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def _scan(folder: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    classes = tuple(d.name for d in _subfolders(folder) if _images_under(d))
    if not classes:
        files = _images_under(folder)
        return files, [-1] * len(files), ()
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS]
    if loose:
        # Labelling them -1 would quietly mix unlabelled images into a labelled set.
        raise DatasetError(
            f"{folder} holds class folders ({', '.join(classes)}) and also loose images such as {loose[0].name}; "
            "move every image into a class folder, or the class folders' images up"
        )
    files, labels = [], []
    for label, name in enumerate(classes):
        found = _images_under(folder / name)
        files += found
        labels += [label] * len(found)
    return files, labels, classes


def load(split: str, data_dir: str | os.PathLike[str] | None = None, image_size: int | None = None) -> ImageDataset:
    """Load the images under ``data_dir`` (or its ``train/`` or ``test/``) as (N, 3, S, S) uint8.

    S is ``image_size``, or 32 when unset."""
    check_split(split)
    if data_dir is None:
        raise DatasetError("image_folder needs data_dir: the folder of images")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    folder = split_folder(root, split)
    files, labels, classes = _scan(folder)
    if folder != root:
        # The test split's labels must index the training split's classes, or they would mean other classes.
        train_classes = _scan(root / "train")[2] if split == "test" else classes
        unknown = sorted(set(classes) - set(train_classes))
        if unknown:
            raise DatasetError(f"{folder} has classes that {root / 'train'} lacks: {', '.join(unknown)}")
        labels = [train_classes.index(classes[y]) if y >= 0 else -1 for y in labels]
        classes = train_classes
    if not files:
        raise DatasetError(f"no images ({', '.join(sorted(EXTENSIONS))}) found under {folder}")
    size = image_size or DEFAULT_SIZE
    images = np.stack([read_image(p, size) for p in files]).transpose(0, 3, 1, 2)
    return ImageDataset.from_arrays(images, np.asarray(labels, dtype=np.int64), classes, "image_folder")
