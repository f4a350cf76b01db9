"""The protocols a study can run, and the rules they share for drawing and ordering items.

A protocol fixes what it must (HYPE's 100 images half real, HYPE-time's staircase and blocks) and leaves
the rest to the study. ``create_study`` copies a protocol's standard values into the study; a study
that changes them (a pilot with fewer trials, say) still runs, and its results page says how it departs
from the standard.
"""

from __future__ import annotations

from annotation.protocols.base import Protocol
from annotation.protocols.hype_infinity import HYPE_INFINITY
from annotation.protocols.hype_time import HYPE_TIME
from annotation.protocols.salimans import SALIMANS

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (SALIMANS, HYPE_INFINITY, HYPE_TIME)}


def get_protocol(name: str) -> Protocol:
    return PROTOCOLS[name]


__all__ = ["HYPE_INFINITY", "HYPE_TIME", "PROTOCOLS", "SALIMANS", "Protocol", "get_protocol"]
