"""HYPE-time (Zhou et al., NeurIPS 2019, §2.1): "HYPEtime displays three blocks of staircases for each evaluator.
An image evaluation begins with a 3-2-1 countdown clock, each number displaying for 500 ms. The sampled image is
then displayed for the current exposure time. Immediately after each image, four perceptual mask images are rapidly
displayed for 30 ms each. [...] Upon each submission, HYPEtime reveals to the evaluator whether they were correct."
"All blocks begin at 500 ms and last for 150 images (50% generated, 50% real)". "We average the modal exposure
times across blocks to calculate a final value for each evaluator."

So: 3 blocks of 150 images, feedback after each answer, and each block its own staircase from START_MS within
100–1000 ms (annotation.stats.staircase, which also says how its steps read the paper's sentence on them). The score
is the modal exposure per block averaged over blocks, then over annotators (annotation.stats.hype_time_score).
With feedback each place draws real or generated on its own (annotation.protocols.sequence), so a block holds about,
not exactly, half of each; the paper has no attention checks: ours are shared among the blocks and step the
staircase like any image.

The browser runs the timing (static/annotation/task.js: COUNTDOWN_MS, MASKS), counting display frames, and
reports what it showed (docs/annotation.md, "Timing"); the server decides each exposure when it first serves the
image, so a reload shows the same exposure again; the score is of the exposures measured on screen.
"""

from __future__ import annotations

from annotation.protocols.base import Protocol

HYPE_TIME = Protocol(
    name="hype_time",
    title="HYPE-time (adaptive exposure staircase)",
    standard={"items_per_assignment": 450, "block_size": 150, "real_fraction": 0.5},
    required={"feedback": "each"},
    timed=True,
)
