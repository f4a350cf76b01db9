"""Where scoring networks' weights live, and the SHA-256 check every load goes through.

Torch-free: the web process shows these paths and hashes. Nothing here downloads; ``fetch-weights`` is
the one command that does, and only when asked.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gan_engine.errors import ScorerError

# The 2015-12-05 TensorFlow Inception graph converted to PyTorch; torch-fidelity's
# weights-inception-2015-12-05-6726825d.pth and pytorch-fid's pt_inception-... are this same file.
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_BYTES = 95_628_359
INCEPTION_URLS = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
)


def cache_root() -> Path:
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan_engine")


def inception_weights_path() -> Path:
    """``GAN_INCEPTION_WEIGHTS``, else ``<cache>/pt_inception-2015-12-05-6726825d.pth``."""
    env = os.environ.get("GAN_INCEPTION_WEIGHTS")
    return Path(env) if env else cache_root() / INCEPTION_FILE


def scorer_dir() -> Path:
    """Folder of the project's trained domain scorers: ``GAN_SCORER_DIR``, else ``<cache>/scorers``."""
    env = os.environ.get("GAN_SCORER_DIR")
    return Path(env) if env else cache_root() / "scorers"


def stats_dir() -> Path:
    """Folder of cached real-data statistics: ``GAN_STATS_DIR``, else ``<cache>/stats``."""
    env = os.environ.get("GAN_STATS_DIR")
    return Path(env) if env else cache_root() / "stats"


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike[str], expected_sha256: str, how_to_get: str) -> str:
    """Check that ``path`` exists and hashes to ``expected_sha256``; return the hash.

    ``how_to_get`` is the command that produces the file, quoted in the error so that the message alone
    says how to fix it.
    """
    path = Path(path)
    if not path.is_file():
        raise ScorerError(
            f"weights file {path} not found (expected SHA-256 {expected_sha256}); get it with: {how_to_get}"
        )
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ScorerError(
            f"weights file {path} has SHA-256 {actual}, expected {expected_sha256}: it is corrupt, truncated or "
            f"another file; replace it with: {how_to_get}"
        )
    return actual
