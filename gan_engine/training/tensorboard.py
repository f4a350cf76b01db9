"""TensorBoard event files beside ``metrics.jsonl``, so that ``tensorboard --logdir`` works on any run folder
(or on a folder of runs). Optional: without the ``tensorboard`` package the loop writes ``metrics.jsonl`` alone.

The same scalars as ``metrics.jsonl``: losses under ``loss/``, evaluations under ``eval/``, throughput under
``speed/``. Each attempt starts its events with TensorBoard's purge marker just past the step it starts
from, so that what an interrupted attempt logged beyond it is hidden, as ``metrics.jsonl`` is truncated there.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gan_engine.training.progress import Progress

ProgressHook = Callable[[Progress], None]


def tee(run_dir: Path, start: int, on_progress: ProgressHook | None) -> ProgressHook | None:
    """``on_progress`` preceded by writing the report's scalars to TensorBoard events in ``run_dir``;
    ``on_progress`` itself when the package is absent."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return on_progress
    # TensorBoard hides the earlier files' steps >= purge_step: up to the checkpoint's they stay, as in
    # metrics.jsonl; a run started over from step 0 (its first attempt lost before a checkpoint) hides them all.
    writer = SummaryWriter(log_dir=str(run_dir), purge_step=start + 1)

    def report(progress: Progress) -> None:
        scalars: dict[str, Any] = {f"loss/{name}": value for name, value in progress.losses.items()}
        scalars.update({f"eval/{name}": value for name, value in progress.metrics.items()})
        scalars["speed/images_per_sec"] = progress.images_per_sec
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, progress.step)
        # A run may be killed at any moment: what was reported is on disk.
        writer.flush()
        if on_progress is not None:
            on_progress(progress)

    # Closed with the hook: when training returns (done or stopped) and the loop lets go of it.
    weakref.finalize(report, writer.close)
    return report
