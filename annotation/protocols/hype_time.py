"""HYPE-time (Zhou et al., NeurIPS 2019): a 3-2-1 countdown, the image for the current exposure, four noise
masks; the exposure follows annotation.stats' staircase (from START_MS, within 100–1000 ms) across the
annotator's whole sequence, in 3 blocks of 150 images with feedback after each answer. The score is the
modal exposure per block averaged over blocks (annotation.stats.hype_time_score).

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
