"""The input of every statistic: a table of judgments, one row per (annotator, image) answer.

The Django app builds it from the database (:meth:`Judgments.from_records` or the constructor with arrays); nothing
here knows about Django.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# Field name -> (dtype, default used by from_records when a record omits it; None = required).
_COLUMNS: dict[str, tuple[Any, Any]] = {
    "annotator": (np.int64, None),
    "item": (np.int64, None),
    "pool": (np.int64, 0),
    "truth_real": (np.bool_, None),
    "answer_real": (np.bool_, None),
    "response_ms": (np.float64, np.nan),
    "trial": (np.int64, 0),
    "condition": (np.str_, ""),
    "block": (np.int64, 0),
    "exposure_ms": (np.float64, np.nan),
    "attention": (np.bool_, False),
    "exposure_shown_ms": (np.float64, np.nan),
    "dropped_frames": (np.bool_, False),
}
# Columns a caller may leave out of the constructor: each row then takes the default.
_OPTIONAL = ("exposure_shown_ms", "dropped_frames")


def _has_strings(raw: Any) -> bool:
    a = np.asarray(raw)
    if a.dtype.kind in "US":
        return True
    return a.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in a.reshape(-1))


@dataclasses.dataclass(frozen=True, eq=False)
class Judgments:
    """Column arrays of equal length, one row per judgment.

    Columns: ``annotator``, ``item`` (the image), ``pool`` (the pool the image came from, real pools too) and
    ``trial`` (0-based index within the annotator's assignment) and ``block`` (HYPE-time block, else 0) as int64;
    ``truth_real`` (the image is real), ``answer_real`` (the annotator said real) and ``attention`` (an
    attention-check item) as bool; ``response_ms`` and ``exposure_ms`` (exposure requested in HYPE-time, NaN when
    unlimited) as float64; ``condition`` (e.g. ``"feedback"``) as a NumPy unicode array. Optional:
    ``exposure_shown_ms`` (the exposure the browser measured on screen, NaN when not measured) as float64 and
    ``dropped_frames`` (a frame was late during the exposure) as bool.

    The constructor copies and converts every column and makes the copies read-only, so a table never aliases the
    caller's arrays and cannot change after it is built. Attention-check rows stay in the table; each statistic
    says whether it uses them (only :func:`per_annotator` does; all others score the other rows).
    """

    annotator: np.ndarray
    item: np.ndarray
    pool: np.ndarray
    truth_real: np.ndarray
    answer_real: np.ndarray
    response_ms: np.ndarray
    trial: np.ndarray
    condition: np.ndarray
    block: np.ndarray
    exposure_ms: np.ndarray
    attention: np.ndarray
    exposure_shown_ms: np.ndarray | None = None
    dropped_frames: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = None
        for name, (dtype, default) in _COLUMNS.items():
            raw = getattr(self, name)
            if raw is None and name in _OPTIONAL:
                raw = np.full(n or 0, default, dtype=dtype)
            if dtype is np.bool_ and _has_strings(raw):
                # bool("False") is True: a string here is a conversion bug upstream, not a value to coerce.
                raise ValueError(f"{name}: expected booleans, got strings")
            column = np.array(raw, dtype=dtype).reshape(-1) if np.ndim(raw) <= 1 else None
            if column is None:
                raise ValueError(f"{name}: expected a 1-D column, got shape {np.shape(raw)}")
            if n is None:
                n = len(column)
            elif len(column) != n:
                raise ValueError(f"{name}: has {len(column)} rows, annotator has {n}")
            column.setflags(write=False)
            object.__setattr__(self, name, column)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Judgments:
        """A table from dicts keyed by the column names. ``annotator``, ``item``, ``truth_real`` and ``answer_real``
        are required; the others default to pool 0, response NaN, trial 0, condition ``""``, block 0, exposure NaN
        (unlimited), attention False, exposure shown NaN (not measured) and dropped frames False. Unknown keys are
        ignored."""
        rows = list(records)
        columns: dict[str, list[Any]] = {}
        for name, (_, default) in _COLUMNS.items():
            if default is None:
                missing = [i for i, r in enumerate(rows) if name not in r]
                if missing:
                    raise ValueError(f"{name}: required, missing from record {missing[0]}")
                columns[name] = [r[name] for r in rows]
            else:
                columns[name] = [r.get(name, default) for r in rows]
        return cls(**columns)

    @classmethod
    def empty(cls) -> Judgments:
        """A table with no rows."""
        return cls(**{name: np.empty(0, dtype=dtype) for name, (dtype, _) in _COLUMNS.items()})

    def __len__(self) -> int:
        return len(self.annotator)

    @property
    def correct(self) -> np.ndarray:
        """Bool per row: the answer matches the truth."""
        return self.answer_real == self.truth_real

    def subset(self, mask: np.ndarray) -> Judgments:
        """The rows selected by a boolean mask (or an array of row indices)."""
        return Judgments(**{name: getattr(self, name)[mask] for name in _COLUMNS})

    def scored(self) -> Judgments:
        """The rows that measure the models: everything except attention checks, whose images are chosen to be
        obvious and would inflate accuracy."""
        return self.subset(~self.attention)

    def annotators(self) -> np.ndarray:
        """The sorted distinct annotator ids."""
        return np.unique(self.annotator)
