"""Reader for the IDX format of MNIST and Fashion-MNIST, gzip-compressed or not.

Layout: two zero bytes, a type code (0x08 for unsigned bytes), the number of dimensions, each dimension as a
big-endian int32, then the data. Every field is checked so that a truncated download or a wrong file fails
here, naming the file, rather than as a reshape error or as silently wrong images.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from gan_engine.errors import DatasetError

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        # Sniff rather than trust the suffix: torchvision keeps both packed and unpacked copies.
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read {path}: {exc} (the file is corrupt or truncated; fetch it again)") from None

    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: {len(raw)} bytes, shorter than an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != ndim:
        raise DatasetError(
            f"{path} is not an IDX file of unsigned bytes with {ndim} dimensions (magic {raw[:4].hex()}, "
            f"expected 000008{ndim:02x})"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path} is truncated or corrupt: its header says {'x'.join(map(str, shape))} = {expected} bytes of "
            f"data, the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file (N, H, W) and its labels file (N,), checking that they agree."""
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels"
        )
    return images, labels
