"""The web side's access to a pool's files, through their one owner (gan_engine.pools, torch-free): the manifest
a pool was written with (read from the artifact store), and the PNG encoder that study copies of its images are
written with."""

from __future__ import annotations

from typing import Any

from gan_engine.errors import PoolError
from gan_engine.pools import MANIFEST, parse_manifest
from gan_engine.pools import encode_png as _encode_png
from runs.artifact_store import ArtifactPathError, read
from runs.models import ImagePool


class PoolFilesError(Exception):
    """A pool whose files cannot be read as a pool: the message names the pool and the file."""


def manifest(pool: ImagePool) -> dict[str, Any]:
    """The pool's ``pool.json``, as gan_engine.pools wrote it (its kind, count, size, mode, files and scores), read
    from the artifact store (the host need not hold the pool)."""
    path = pool.folder / MANIFEST
    try:
        return parse_manifest(read(path), path)
    except FileNotFoundError:
        raise PoolFilesError(f"{pool}: cannot read its manifest: {path} not found: not a pool") from None
    except (PoolError, OSError, ArtifactPathError) as exc:
        raise PoolFilesError(f"{pool}: cannot read its manifest: {exc}") from None


def encode_png(pixels: Any) -> bytes:
    """PNG bytes of one image (a uint8 array (H, W) for 'L' or (H, W, 3) for 'RGB') by the pools' one encoder."""
    return _encode_png(pixels)
