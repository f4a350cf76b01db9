"""What the loop reports through ``on_progress``: plain data, ready for a progress bar or a
database row."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Progress:
    step: int  # steps done
    total_steps: int
    epoch: float  # passes over the training set
    losses: dict[str, float]
    images_per_sec: float
    eta_seconds: float | None
    metrics: dict[str, float] = field(default_factory=dict)  # set at evaluation steps
    sample_grid: str | None = None  # path of a grid written at this step
    checkpoint: str | None = None  # path of a checkpoint written at this step

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    status: str  # "done" or "stopped"
    step: int
    checkpoint: str
    run_dir: str
    last: Progress | None
