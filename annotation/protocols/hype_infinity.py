"""HYPE∞ (Zhou et al., NeurIPS 2019): 100 images per annotator, half real, unlimited time; the score is the
error rate, reported overall and as fake error and real error (annotation.stats.hype_infinity)."""

from __future__ import annotations

from annotation.protocols.base import Protocol

HYPE_INFINITY = Protocol(
    name="hype_infinity",
    title="HYPE∞ (unlimited time, error rate)",
    standard={"items_per_assignment": 100, "real_fraction": 0.5, "block_size": None},
)
