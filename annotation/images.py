"""The images of a study: what a pool's manifest lists, the study's own copy of each image written by the one
encoder, and the one way an image leaves the server.

Every image, real or generated, is answered by :func:`image_response` with the same headers and nothing
else: no file name, no modification time, no ETag, bytes read whole, so that nothing but the pixels differs.
"""

from __future__ import annotations

import io
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.http import HttpResponse

from runs import artifact_store, pool_files
from runs.models import ImagePool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    # Should a file ever hold something else than an image, the browser must run nothing from it.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


# The bytes of the images served lately, per web process: a study's copy of an image never changes once written
# (it is named by its study item, written when the item joins an open study), so an image is read from the artifact
# store (the disk, or a bucket) once rather than at every judgment. Bounded in bytes, the least recently served
# going first; small (a study's images are a few kB each).
IMAGE_CACHE_BYTES = 64 * 2**20


class ImageError(Exception):
    """A pool or image that cannot be used: the message names the file."""


@dataclass(frozen=True)
class PoolImage:
    file: str
    # The image's contribution to the pool's Inception Score, when the pool's manifest records it.
    inception_kl: float | None


def read_manifest(pool: ImagePool) -> list[PoolImage]:
    """The images a pool's manifest lists, in its order, with the per-image Inception-Score contributions
    of the newest score entry that records them (``image_kl``: one value per file, in the files' order)."""
    try:
        manifest = pool_files.manifest(pool)
        names = [entry["name"] for entry in manifest["files"]]
    except pool_files.PoolFilesError as exc:
        raise ImageError(str(exc)) from None
    except (KeyError, TypeError) as exc:
        raise ImageError(f"{pool}: its manifest lists a file without a name: {exc!r}") from None
    kl = next((entry["image_kl"] for entry in reversed(manifest.get("scores", [])) if "image_kl" in entry), None)
    if kl is not None and len(kl) != len(names):
        raise ImageError(f"{pool}: its manifest lists {len(names)} images but {len(kl)} Inception-Score contributions")
    return [PoolImage(name, None if kl is None else float(kl[i])) for i, name in enumerate(names)]


def image_path(pool: ImagePool, file: str) -> Path:
    """The file inside the pool's folder; a name that leads outside it is refused."""
    folder = pool.folder.resolve()
    path = (folder / file).resolve()
    if not path.is_relative_to(folder):
        raise ImageError(f"{pool}: {file!r} is not inside the pool's folder")
    return path


class PngLayout(NamedTuple):
    """What an encoder decides about a PNG beyond its pixels."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    compression: int
    filter: int
    interlace: int
    chunks: tuple[str, ...]  # chunk types in order, a run of IDAT counted once

    def __str__(self) -> str:
        return (
            f"{self.width}x{self.height}, {self.bit_depth}-bit colour type {self.colour_type}, "
            f"interlace {self.interlace}, chunks {'/'.join(self.chunks)}"
        )


def png_layout(path: Path) -> PngLayout:
    try:
        with path.open("rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                raise ImageError(f"{path}: not a PNG file")
            header: tuple[int, ...] = ()
            chunks: list[str] = []
            while True:
                head = f.read(8)
                if len(head) < 8:
                    raise ImageError(f"{path}: truncated PNG (no IEND chunk)")
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IHDR":
                    header = struct.unpack(">IIBBBBB", f.read(13))
                    f.seek(length - 13 + 4, 1)
                else:
                    f.seek(length + 4, 1)
                name = kind.decode("latin-1")
                if not (chunks and chunks[-1] == name == "IDAT"):
                    chunks.append(name)
                if kind == b"IEND":
                    if not header:
                        raise ImageError(f"{path}: a PNG without its IHDR header")
                    return PngLayout(*header, chunks=tuple(chunks))
    except OSError as exc:
        raise ImageError(f"{path}: {exc}") from None


# --- What annotators are served: every study image decoded and encoded again by the one encoder -------------
# Pools may come from another encoder (another zlib level or Pillow, metadata chunks, a palette, 16 bits): a fixed
# byte of every file would then tell real from generated. So when a study opens, each of its images is decoded to
# its pixels and written again by the pools' own encoder (runs.pool_files.encode_png: PIL only, no torch) into the
# study's own folder, in one mode for the whole study; annotators are served these files only, whose bytes are a
# function of the pixels.
# What the pixels themselves would give away (another size, transparency) is refused, naming the pools.
STUDY_FOLDER = "studies"
# Modes decoded as they are, or converted without changing what is seen.
GREY_MODES = {"1": "L", "L": "L", "LA": "L", "I;16": None, "I": None, "F": None}
COLOUR_MODES = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB", "PA": "RGB"}


@dataclass(frozen=True)
class Source:
    """One image of a study to encode: its study item's id, its file, and its pool's name for messages."""

    item_id: int
    path: Path
    pool: str


def study_image_path(public_id: str, item_id: int) -> Path:
    """Where a study item's served image is: the study's folder under ARTIFACTS_DIR, the item's id as its name."""
    return Path(settings.ARTIFACTS_DIR) / STUDY_FOLDER / public_id / f"{item_id}.png"


def _pixels(source: Source) -> Any:
    """The image's pixels as PIL decodes them, in mode 'L' or 'RGB'; refused: no image, transparency, or more than
    8 bits a channel (re-encoding would change what is seen)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(artifact_store.read(source.path))) as opened:
            image = opened.convert("RGBA") if opened.mode in ("P", "PA") else opened.copy()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"pool {source.pool}: {source.path.name} cannot be decoded ({exc})") from None
    mode = GREY_MODES.get(image.mode) or COLOUR_MODES.get(image.mode)
    if mode is None:
        raise ImageError(
            f"pool {source.pool}: {source.path.name} is in mode {image.mode} (field: mode); "
            "study images must be grey or colour with 8 bits a channel"
        )
    if image.mode in ("LA", "RGBA", "PA") and image.getchannel("A").getextrema()[0] < 255:
        raise ImageError(f"pool {source.pool}: {source.path.name} has transparent pixels (field: alpha)")
    return image.convert(mode) if image.mode != mode else image


def encode_study_images(public_id: str, sources: Iterable[Source], *, mode: str | None = None) -> str:
    """Decode every source and write it again with the one encoder into the study's folder; returns the study's
    mode ('L' unless some image has colour, or ``mode`` when the study already has images). Refused, before any
    file is written, when the images differ in size, or when a colour image would join a grey study."""
    sources = list(sources)
    sizes: dict[tuple[int, int], str] = {}
    colour: str | None = None
    for source in sources:
        image = _pixels(source)
        sizes.setdefault(image.size, source.pool)
        if len(sizes) > 1:
            (a, first), (b, second) = sizes.items()
            raise ImageError(
                f"images differ in size (field: size): pool {first} holds {a[0]}x{a[1]} images, pool {second} "
                f"{b[0]}x{b[1]}: annotators would tell them apart by that"
            )
        if image.mode == "RGB" and colour is None:
            colour = source.pool
    if mode == "L" and colour is not None:
        raise ImageError(f"pool {colour} holds colour images (field: mode) but the study's images are grey")
    mode = mode or ("RGB" if colour is not None else "L")
    import numpy as np

    for source in sources:
        target = study_image_path(public_id, source.item_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(pool_files.encode_png(np.asarray(_pixels(source).convert(mode))))
        temporary.replace(target)
        artifact_store.upload(target)  # web hosts serve it from the store
    return mode


def study_mode(public_id: str, item_id: int) -> str:
    """The mode of a study's served images, read from one of them."""
    from PIL import Image

    with Image.open(io.BytesIO(artifact_store.read(study_image_path(public_id, item_id)))) as image:
        return image.mode


class _ByteCache:
    """A file's bytes by its resolved path, the least recently used dropped past ``limit`` bytes in all."""

    def __init__(self, limit: int):
        self.limit, self.size = limit, 0
        self.entries: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()  # gunicorn's threads share it

    def read(self, path: Path) -> bytes:
        key = str(path)
        with self.lock:
            data = self.entries.get(key)
            if data is not None:
                self.entries.move_to_end(key)
                return data
        data = artifact_store.read(path)
        if len(data) <= self.limit:
            with self.lock:
                if key not in self.entries:
                    self.entries[key] = data
                    self.size += len(data)
                    while self.size > self.limit:
                        self.size -= len(self.entries.popitem(last=False)[1])
        return data


_served = _ByteCache(IMAGE_CACHE_BYTES)


def image_bytes(path: Path) -> bytes:
    """The bytes :func:`image_response` serves for ``path``, from the same per-process cache."""
    return _served.read(path)


def image_response(path: Path) -> HttpResponse:
    """The image at ``path`` (resolved, inside its pool: :func:`image_path`), with the one header set."""
    response = HttpResponse(_served.read(path), content_type="image/png")
    for name, value in IMAGE_HEADERS.items():
        response[name] = value
    return response
