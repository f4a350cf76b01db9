"""The HYPE-time adaptive staircase (Zhou et al., NeurIPS 2019, §2.1 "HYPEtime: Perceptual fidelity grounded in
psychophysics"): each image's exposure follows the annotator's previous answer, so the exposures settle around the
annotator's perceptual threshold.

What the paper says, and what this module does:

- Blocks. "HYPEtime displays three blocks of staircases for each evaluator"; "Every evaluator completes multiple
  staircases, called blocks, on different sets of images"; "All blocks begin at 500 ms and last for 150 images".
  Each block is its own staircase: its first image is shown at ``START_MS`` = 500 ms whatever the block before
  ended on (:func:`exposure_sequence` with ``blocks``; the server's ``Protocol.next_exposure``).
- Range. "Image exposures are in the range [100 ms, 1000 ms]": ``MIN_MS`` and ``MAX_MS``, the steps clamped.
- Direction. "If the evaluator consistently answers correctly, the staircase descends and flashes the next image
  with less time. If the evaluator is incorrect, the staircase ascends and provides more time" (Figure 3: "decreasing
  when correct and increasing when incorrect").
- Steps. "Exposure times are raised at 10 ms increments and reduced at 30 ms decrements, following the 3-up/1-down
  adaptive staircase approach, which theoretically leads to a 75% accuracy threshold". The sentence contradicts
  itself: a step after every answer is stationary where its expected step −down·p + up·(1 − p) is zero, at
  p = up / (up + down). With up 10 and down 30 that is p = 0.25, below the 50% of guessing: every annotator who does
  at least as well as chance drifts to the 100 ms floor and stays there, so every model would score 100 ms, which
  the paper's own results (439.3 ms, 363.7 ms, 100 ms on CelebA-64, §4.1) rule out. Steps of 3 up for 1 down are
  the weighted up-down rule whose stationary point is exactly 75% (Kaernbach 1991: up/down = p/(1 − p) = 3), the
  "3-up/1-down ... 75%" the same sentence names. This module follows that reading, the only one of the three here
  that agrees with the sentence's "3-up/1-down", its 75% and the paper's results: a right answer shortens the next
  exposure by ``DOWN_MS`` = 10 ms and a wrong one lengthens it by ``UP_MS`` = 30 ms (the sentence's two numbers,
  exchanged).
  (Levitt's transformed 3-down/1-up rule, three right in a row to descend, with the sentence's steps would settle at
  p³ = 1/4, 63% right, and with equal steps at 79.4%: neither is the 75% the paper states.)

References: S. Zhou, M. Gordon, R. Krishna, A. Narcomey, L. Fei-Fei, M. Bernstein, "HYPE: A Benchmark for Human
eYe Perceptual Evaluation of Generative Models", NeurIPS 2019 (arXiv 1904.01121), §2.1 and §4.1 as numbered in
the proceedings. H. Levitt, "Transformed up-down methods in psychoacoustics", JASA 49 (1971) 467–477.
C. Kaernbach, "Simple adaptive testing with the weighted up-down method", Perception & Psychophysics 49 (1991)
227–229.
"""

from __future__ import annotations

from collections.abc import Iterable

START_MS = 500
UP_MS = 30
DOWN_MS = 10
MIN_MS = 100
MAX_MS = 1000


def next_exposure(
    current_ms: float,
    correct: bool,
    *,
    up_ms: int = UP_MS,
    down_ms: int = DOWN_MS,
    low: int = MIN_MS,
    high: int = MAX_MS,
) -> int:
    """The exposure (ms) of the next image: ``current_ms − down_ms`` after a right answer, ``current_ms + up_ms``
    after a wrong one, clamped to ``[low, high]``. ``current_ms`` is rounded to a whole ms first."""
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    step = -down_ms if correct else up_ms
    return int(min(high, max(low, round(current_ms) + step)))


def exposure_sequence(
    correct: Iterable[bool],
    *,
    blocks: Iterable[int] | None = None,
    start_ms: int = START_MS,
    up_ms: int = UP_MS,
    down_ms: int = DOWN_MS,
    low: int = MIN_MS,
    high: int = MAX_MS,
) -> list[int]:
    """The exposures shown to answers ``correct``, in order: ``start_ms`` (clamped) first, then each one
    :func:`next_exposure` of the one before. ``blocks`` gives each answer's block (one block when None): each block
    is its own staircase, so the first image of a block is shown at ``start_ms`` again."""
    shown: list[int] = []
    first = int(min(high, max(low, start_ms)))
    current, previous = first, None
    answers = list(correct)
    labels = [0] * len(answers) if blocks is None else list(blocks)
    if len(labels) != len(answers):
        raise ValueError(f"blocks: {len(labels)} given for {len(answers)} answers")
    for right, block in zip(answers, labels, strict=True):
        if previous is not None and block != previous:
            current = first
        shown.append(current)
        current = next_exposure(current, right, up_ms=up_ms, down_ms=down_ms, low=low, high=high)
        previous = block
    return shown
