"""Drawing and ordering items, for every protocol.

An assignment's sequence holds each pool in its share (the study's real fraction, then the pools' weights),
takes from each pool the images with the fewest judgments so far (taken or reserved, ranked by the database
in services._draw_test), so that every image reaches its wanted number before any gets more, never repeats an
image its annotator has seen, and is shuffled so that every stretch of it (every block) holds each pool in proportion.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` by largest remainders (Hamilton): the parts sum to ``total``,
    and each is its exact share rounded down or up."""
    if not weights:
        return []
    mass = sum(weights)
    if mass <= 0:
        raise ValueError("weights: need a positive sum")
    exact = [total * w / mass for w in weights]
    parts = [math.floor(x) for x in exact]
    # Ties go to the earlier part, so that the split does not depend on anything random.
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def spread(strata: Sequence[Sequence[int]], rng: random.Random) -> list[int]:
    """All the strata's items in one order where each stratum is spread evenly: a stratum of n items takes the
    places (i + u) / n of the unit interval (u uniform, one per stratum), so that any stretch of the sequence
    holds every stratum in proportion, give or take one."""
    placed: list[tuple[float, float, int]] = []
    for items in strata:
        order = list(items)
        rng.shuffle(order)
        offset = rng.random()
        placed += [((i + offset) / len(order), rng.random(), item) for i, item in enumerate(order)]
    return [item for *_, item in sorted(placed)]


def arrange(
    strata: Sequence[Sequence[int]], block_size: int | None, extra: Sequence[int], rng: random.Random
) -> list[list[int]]:
    """The sequence as blocks: the strata spread evenly, cut into blocks of ``block_size`` (one block when
    None), the ``extra`` items (attention checks) shared among the blocks by their sizes, each block shuffled."""
    sequence = spread(strata, rng)
    size = block_size or max(len(sequence), 1)
    blocks = [sequence[start : start + size] for start in range(0, len(sequence), size)] or [[]]
    extras = list(extra)
    rng.shuffle(extras)
    shares = apportion(len(extras), [max(len(block), 1) for block in blocks])
    for block, share in zip(blocks, shares, strict=True):
        block += extras[:share]
        del extras[:share]
        rng.shuffle(block)
    return blocks
