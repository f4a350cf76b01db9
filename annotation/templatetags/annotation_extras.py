"""Number formats of the results page: the dashboard's (runs.numbers), with a dash where a number is
undefined (NaN, None), so that no page ever shows "nan"."""

from __future__ import annotations

import math
from typing import Any

from django import template

from runs import numbers

register = template.Library()
DASH = "—"


def _defined(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@register.filter
def pct(value: Any, digits: int | None = None) -> str:
    """A fraction as a percentage to three significant digits: 0.787 → 78.7%, 0.9666… → 96.7%."""
    return numbers.percent(value, digits) if _defined(value) else DASH


@register.filter
def num(value: Any, significant: int = 3) -> str:
    """A measurement to ``significant`` digits with thousands separators: 1.23456 → 1.23, 1234.5 → 1,235."""
    return numbers.number(value, significant) if _defined(value) else DASH


@register.filter
def pvalue(value: Any) -> str:
    if not _defined(value):
        return DASH
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"
