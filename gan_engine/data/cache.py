"""Keys for the per-process caches of decoded dataset files.

Decoding a split from its files takes about a second (gzip, pickle); a worker that loads the same split for
training and again for evaluation should pay once. The key holds each file's modification time and size,
so a file replaced on disk is read again rather than served stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

FilesKey = tuple[tuple[str, int, int], ...]


def files_key(paths: Iterable[Path]) -> FilesKey:
    key = []
    for path in paths:
        st = path.stat()
        key.append((str(path.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(key)


def frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mark cached arrays read-only, so that a caller writing into one fails instead of corrupting the cache."""
    for array in arrays:
        array.setflags(write=False)
    return arrays
