"""gan_engine: train GANs with the techniques of Improved Techniques for Training GANs
(Salimans et al., 2016), sample them, and measure them.

Importing the package loads no torch: ``gan_engine.config`` (validation) must stay usable by the web
process. The training API loads on first use::

    from gan_engine import build_config, train
    config = build_config("improved_gan_ssl", {"optim": {"steps": 600}})
    result = train(config, "out/ssl", on_progress=print)
"""

from __future__ import annotations

from typing import Any

from gan_engine.config import TrainConfig, ablation_grid, build_config, config_from_dict
from gan_engine.errors import CheckpointError, ConfigError, DatasetError, EngineError

_LAZY = {
    "train": "gan_engine.training.loop",
    "Progress": "gan_engine.training.progress",
    "TrainResult": "gan_engine.training.progress",
    "load_checkpoint": "gan_engine.training.checkpoint",
    "latest_checkpoint": "gan_engine.training.checkpoint",
    "generate": "gan_engine.sampling",
    "load_generator": "gan_engine.sampling",
    "evaluate_checkpoint": "gan_engine.evaluation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gan_engine' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "EngineError",
    "TrainConfig",
    "ablation_grid",
    "build_config",
    "config_from_dict",
    *_LAZY,
]
