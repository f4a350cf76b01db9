"""The base of every result dataclass: ``to_dict()`` gives plain JSON/CSV-ready values."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` as plain Python: nested results become dicts, tuples become lists, NumPy scalars become
    ``int``/``float``/``bool``, and NaN becomes ``None``.

    NaN becomes ``None`` because ``json.dumps`` writes NaN as a bare ``NaN`` token that browsers' ``JSON.parse``
    rejects, and ``csv`` writes ``None`` as an empty cell, which is what "undefined" should look like there.
    """
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class Result:
    """Mixin for the frozen result dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict of plain values (see :func:`plain`): ready for ``json.dumps`` and ``csv.DictWriter``."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
