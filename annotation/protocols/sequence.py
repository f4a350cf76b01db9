"""Drawing and ordering items, for every protocol.

An assignment's sequence holds each pool in its share (the study's real fraction, then the pools' weights),
takes from each pool the images with the fewest judgments so far (taken or reserved, ranked by the database
in actions.assignments.draw_test), so that every image reaches its wanted number before any gets more, never repeats an
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


# --- Sequences shown with feedback ---------------------------------------------------------------------------
# With feedback an annotator learns each image's truth after answering it. A sequence that holds an exact split
# (so many real in the sequence, spread evenly over its blocks) lets them count: once most of a block's real
# images are revealed the rest are probably generated, and a block's last image is known before it is seen
# (counting_guesses below wins about 56% of 100 images without looking). So a sequence shown with feedback has
# each place's stratum drawn on its own, with the stratum's share as its probability, whatever came before: the
# truths revealed so far then say nothing about the next one, and no counting beats guessing the larger share.
# The counts of real and generated images vary between annotators; the error rates and d' are computed per
# class (stats.signal_detection), so unequal counts are what they already allow.


def independent_counts(total: int, shares: Sequence[float], rng: random.Random) -> list[int]:
    """How many of ``total`` places fall to each stratum when every place draws its stratum on its own, stratum i
    with probability ``shares[i] / sum(shares)``: one multinomial draw."""
    counts = [0] * len(shares)
    for index in rng.choices(range(len(shares)), weights=shares, k=total):
        counts[index] += 1
    return counts


def shuffle_blocks(
    strata: Sequence[Sequence[int]], block_size: int | None, extra: Sequence[int], rng: random.Random
) -> list[list[int]]:
    """The strata's items and the ``extra`` items (attention checks) in one uniformly random order, cut into as many
    blocks as the strata's items fill at ``block_size`` (one block when None), the extra places shared among them by
    their sizes: checks never make a block of their own (in HYPE-time each block is a staircase of its own, and a
    few trials left over would weigh as much in the score as a whole block). With counts from
    :func:`independent_counts`, each place's stratum is an independent draw."""
    items = [item for items in strata for item in items]
    sequence = items + list(extra)
    rng.shuffle(sequence)
    size = block_size or max(len(items), 1)
    filled = [min(size, len(items) - start) for start in range(0, len(items), size)] or [1]
    blocks, start = [], 0
    for part in apportion(len(sequence), filled):
        blocks.append(sequence[start : start + part])
        start += part
    return blocks


def counting_guesses(truths: Sequence[bool], block_sizes: Sequence[int], real_fraction: float) -> list[bool]:
    """The guesses of an observer who never looks at an image and counts the truths that feedback revealed: each
    block is taken to hold its share of real images (``real_fraction`` of its size, rounded), and the kind with
    more places left in the block is guessed (real on a tie). Against a fixed split per block this beats
    chance; against independent draws it cannot."""
    guesses: list[bool] = []
    start = 0
    for size in block_sizes:
        real_left = round(size * real_fraction)
        generated_left = size - real_left
        for truth in truths[start : start + size]:
            guesses.append(real_left >= generated_left)
            if truth:
                real_left -= 1
            else:
                generated_left -= 1
        start += size
    return guesses
