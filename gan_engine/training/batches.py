"""Batches as a pure function of (seed, stream, position).

Each stream is an endless concatenation of permutations of its examples, the k-th permutation
seeded by (seed, stream, k). The paper's code tiles its 100 labelled examples and reshuffles them to
fill each epoch of unlabelled data; this is the same thing without epoch boundaries. Because a batch
depends on nothing but its position, a run resumed at step k draws exactly the batches that an
uninterrupted run would: no sampler state needs saving.
"""

from __future__ import annotations

import hashlib

import torch


def _perm_seed(seed: int, stream: int, k: int) -> int:
    digest = hashlib.sha256(f"{seed}:{stream}:{k}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class Stream:
    def __init__(self, indices: torch.Tensor, seed: int, stream: int):
        if len(indices) == 0:
            raise ValueError("a batch stream needs at least one example")
        self.indices = indices
        self.seed, self.stream = seed, stream
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, k: int) -> torch.Tensor:
        if k not in self._perms:
            if len(self._perms) > 4:
                self._perms.pop(min(self._perms))
            g = torch.Generator().manual_seed(_perm_seed(self.seed, self.stream, k))
            self._perms[k] = self.indices[torch.randperm(len(self.indices), generator=g)]
        return self._perms[k]

    def take(self, position: int, size: int) -> torch.Tensor:
        """The example indices of batch number ``position``."""
        n = len(self.indices)
        start = position * size
        out = []
        while size:
            k, offset = divmod(start, n)
            chunk = self._perm(k)[offset : offset + size]
            out.append(chunk)
            start += len(chunk)
            size -= len(chunk)
        return out[0] if len(out) == 1 else torch.cat(out)
