"""The engine's error types. Each names what was wrong (a config field, a file) so that a caller,
the CLI or the web form, can show it next to the thing the user must fix."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: every error the engine raises on purpose."""


class ConfigError(EngineError, ValueError):
    """An invalid config. ``errors`` maps each dotted field name to its message, so that a form can
    show every problem at once on the right field."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in self.errors.items()))


class DatasetError(EngineError):
    """A dataset that cannot be loaded: missing files (named, with where they were looked for)."""


class CheckpointError(EngineError):
    """A checkpoint that is missing, truncated, corrupt or made for another config."""


class ScorerError(EngineError):
    """A score that cannot be computed: a network's weights missing (named, with their expected SHA-256 and
    the command that fetches or trains them), corrupt or of another layout; or a metric's input that is not
    what it is defined on (the argument named); or two scores from different networks compared."""


class PoolError(EngineError):
    """An image pool that cannot be written or read: a non-empty target folder, a missing manifest, or
    files that disagree with it (each named)."""
