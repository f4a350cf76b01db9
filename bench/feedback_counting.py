"""The counting observer against sequences shown with feedback: how often it is right without looking at an image.

An annotator with feedback learns each image's truth after answering it. Against a sequence holding an exact split
(half real, spread evenly over its blocks: how sequences were drawn before), counting the truths revealed so far
tells which kind is more likely next, and a block's last image is known. Against the draw sequences now use with
feedback (each place's kind drawn on its own: annotation.protocols.sequence.independent_counts and shuffle_blocks)
the count tells nothing. This plays annotation.protocols.sequence.counting_guesses against both and prints its
accuracy with a 95% Wilson interval, per sequence length and block size.

    .venv/bin/python bench/feedback_counting.py                      # 100 images, one block; 450 in blocks of 150
    .venv/bin/python bench/feedback_counting.py --length 100 --sequences 20000 --real-fraction 0.3
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence

from annotation.protocols.sequence import apportion, arrange, counting_guesses, independent_counts, shuffle_blocks

Draw = Callable[[int, float, int | None, random.Random], list[list[bool]]]


def fixed_split(length: int, real_fraction: float, block_size: int | None, rng: random.Random) -> list[list[bool]]:
    """The sequence's truths as blocks, its kinds an exact split spread evenly (sequences without feedback)."""
    n_real, _ = apportion(length, [real_fraction, 1 - real_fraction])
    strata = [list(range(n_real)), list(range(n_real, length))]
    return [[item < n_real for item in block] for block in arrange(strata, block_size, [], rng)]


def independent(length: int, real_fraction: float, block_size: int | None, rng: random.Random) -> list[list[bool]]:
    """The sequence's truths as blocks, each place's kind drawn on its own (sequences with feedback)."""
    n_real, _ = independent_counts(length, [real_fraction, 1 - real_fraction], rng)
    strata = [list(range(n_real)), list(range(n_real, length))]
    return [[item < n_real for item in block] for block in shuffle_blocks(strata, block_size, [], rng)]


def observer_accuracy(
    draw: Draw, *, length: int, real_fraction: float, block_size: int | None, sequences: int, seed: int = 0
) -> tuple[int, int]:
    """(right, guesses) of the counting observer over ``sequences`` sequences drawn by ``draw``."""
    rng = random.Random(seed)
    right = total = 0
    for _ in range(sequences):
        blocks = draw(length, real_fraction, block_size, rng)
        truths = [truth for block in blocks for truth in block]
        guesses = counting_guesses(truths, [len(block) for block in blocks], real_fraction)
        right += sum(guess == truth for guess, truth in zip(guesses, truths, strict=True))
        total += len(truths)
    return right, total


def wilson(right: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    p = right / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, action="append", help="images per sequence (repeatable)")
    parser.add_argument("--block-size", type=int, default=0, help="0: the protocol's (one block; 150 for 450)")
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--real-fraction", type=float, default=0.5)
    args = parser.parse_args(argv)
    cases = [(length, args.block_size or None) for length in args.length] if args.length else [(100, None), (450, 150)]
    chance = max(args.real_fraction, 1 - args.real_fraction)
    print(
        f"counting observer, {args.sequences} sequences each, real fraction {args.real_fraction} (chance {chance:.3f})"
    )
    print(f"{'length':>6} {'blocks':>6}  {'scheme':<22} {'accuracy':>8}  95% interval")
    for length, block_size in cases:
        for name, draw in (("fixed split (before)", fixed_split), ("independent (now)", independent)):
            right, total = observer_accuracy(
                draw, length=length, real_fraction=args.real_fraction, block_size=block_size, sequences=args.sequences
            )
            low, high = wilson(right, total)
            print(f"{length:>6} {block_size or length:>6}  {name:<22} {right / total:>8.4f}  [{low:.4f}, {high:.4f}]")


if __name__ == "__main__":
    main()
