"""The HYPE-time adaptive staircase (Zhou et al., NeurIPS 2019, §3.1): each image's exposure follows the
annotator's previous answer, so the exposures settle around the annotator's perceptual threshold.

A right answer shortens the next exposure by ``DOWN_MS`` = 10 ms, a wrong one lengthens it by ``UP_MS`` = 30 ms,
within [100, 1000] ms, starting at 500 ms. The expected step at accuracy p is −10·p + 30·(1 − p), zero at
p = 0.75: the staircase converges to the exposure where the annotator is right 75% of the time, the usual target of
a 3-up/1-down staircase for a two-alternative task (Levitt 1971).

The opposite assignment (right −30, wrong +10) would be stationary at p = 0.25, below the 50% of guessing, so every
annotator would drift to the 100 ms floor and the modal exposure would measure nothing.

References: S. Zhou, M. Gordon, R. Krishna, A. Narcomey, L. Fei-Fei, M. Bernstein, "HYPE: A Benchmark for Human
eYe Perceptual Evaluation of Generative Models", NeurIPS 2019. H. Levitt, "Transformed up-down methods in
psychoacoustics", JASA 49 (1971) 467–477.
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
    start_ms: int = START_MS,
    up_ms: int = UP_MS,
    down_ms: int = DOWN_MS,
    low: int = MIN_MS,
    high: int = MAX_MS,
) -> list[int]:
    """The exposures shown in a block whose answers were ``correct``, in order: ``start_ms`` (clamped) first, then
    each one :func:`next_exposure` of the one before."""
    shown = []
    current = int(min(high, max(low, start_ms)))
    for right in correct:
        shown.append(current)
        current = next_exposure(current, right, up_ms=up_ms, down_ms=down_ms, low=low, high=high)
    return shown
