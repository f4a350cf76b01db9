"""Number formats of the results page: undefined numbers (NaN, None) show as a dash."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()
DASH = "—"


def _defined(value: Any) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage: 0.787 → 78.7%."""
    return f"{100 * value:.{digits}f}%" if _defined(value) else DASH


@register.filter
def num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if _defined(value) else DASH


@register.filter
def pvalue(value: Any) -> str:
    if not _defined(value):
        return DASH
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"
