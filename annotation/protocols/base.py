"""What a protocol is: the study settings it standardises or requires, and its exposure rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annotation.stats import START_MS, next_exposure


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    # Study settings at their standard values: the defaults of a new study, and what its results compare to.
    standard: Mapping[str, Any] = field(default_factory=dict)
    # Settings the protocol cannot run without: a study that sets them otherwise is refused.
    required: Mapping[str, Any] = field(default_factory=dict)
    # Each image is shown for a limited exposure that adapts to the annotator's answers.
    timed: bool = False

    def defaults(self) -> dict[str, Any]:
        return {**self.standard, **self.required}

    def violations(self, settings: Mapping[str, Any]) -> dict[str, str]:
        return {
            name: f"the {self.name} protocol requires {name} = {value!r}"
            for name, value in self.required.items()
            if settings.get(name, value) != value
        }

    def deviations(self, settings: Mapping[str, Any]) -> list[str]:
        """How a study's settings depart from the protocol's standard, in words for its results page."""
        return [
            f"{name} is {settings[name]!r} (standard {value!r})"
            for name, value in self.standard.items()
            if name in settings and settings[name] != value
        ]

    def first_exposure(self) -> int | None:
        return START_MS if self.timed else None

    def next_exposure(self, current_ms: int | None, correct: bool) -> int | None:
        if not self.timed or current_ms is None:
            return None
        return next_exposure(current_ms, correct)
